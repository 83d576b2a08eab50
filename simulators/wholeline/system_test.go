package wholeline_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/broker/mosquittotest"
	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// TestWholeSystemUnderFaults is issue #7's system test: two lines produce
// 20,000 units each (5,000 in `make test`) with injected device faults, and during the run one
// agent is SIGKILLed and restarted, the broker is restarted, central is
// stopped for a while and restarted, and malformed and foreign messages
// are published at the broker. Afterwards no element string appears twice
// in any print log, every granted serial is reconciled on both sides,
// central's counts equal the agents' and the simulators', every
// commissioned unit's EPCIS history is complete, and the dead letters
// hold exactly the malformed messages.
func TestWholeSystemUnderFaults(t *testing.T) {
	units := soakSize(t, 5_000, 20_000)
	s := newSystem(t)
	// The pools hold about two minutes of production, refilled below one
	// minute: enough to ride out central's absence below.
	opts := lineOpts{units: units, speed: 3_000, noRead: 0.01, wrong: 0.01,
		pool: agent.PoolConfig{ReserveBlock: 64, LowWaterMinutes: 1, RefillMinutes: 2, MinRequest: 1_000, MaxRequest: 10_000, NominalRate: 3_000, RequestRetry: time.Second}}
	l1, l2 := s.addLine(t, "L1", opts), s.addLine(t, "L2", opts)
	rogue := s.addRogue(t, "LX")
	for _, r := range []*rig{l1, l2} {
		r.startEdge(t)
		r.run(t)
	}
	// await waits for both lines to pass n units.
	await := func(n int) {
		l1.awaitUnits(t, n)
		l2.awaitUnits(t, n)
	}

	// 10%: malformed messages, and foreign ones that the broker must stop.
	await(units / 10)
	var sent []string
	sent = append(sent, rogue.publishMalformed(t, "a")...)
	sent = append(sent, publishGarbage(t, s, l1, "a"))
	s.publishForeign(t, l1, l2)
	s.awaitDeadLetters(t, len(sent))

	// 20%: a printer runs out of labels on line 1, and line 2's conveyor
	// jams; the technicians fix them and the operators acknowledge.
	await(units / 5)
	l1.fault(t, "printer", "paper_out", true)
	l2.fault(t, "plc", "stop", true)
	l1.awaitAlarm(t, "printer")
	l2.awaitAlarm(t, "plc")
	l1.fault(t, "printer", "paper_out", false)
	l2.fault(t, "plc", "stop", false)
	l1.ackAndResume(t)
	l2.ackAndResume(t)

	// 30%: line 2's agent loses power.
	await(units * 3 / 10)
	l2.edge.kill(t)
	l2.startEdge(t)
	l2.run(t)

	// 45%: the broker crashes and comes back.
	await(units * 45 / 100)
	s.mq.Restart(t)

	// 55%-65%: central is away (30 s); the lines go on printing from
	// their pools.
	await(units * 55 / 100)
	s.central.stop(t)
	await(units * 65 / 100)
	s.startCentral(t)

	// 80%: more malformed messages.
	await(units * 8 / 10)
	sent = append(sent, rogue.publishMalformed(t, "b")...)
	sent = append(sent, publishGarbage(t, s, l2, "b"))
	s.awaitDeadLetters(t, len(sent))

	v1 := l1.finish(t, units)
	c1 := l1.state(t).Counts
	v2 := l2.finish(t, units)
	s.agree(t, l1, v1, &c1)
	s.agree(t, l2, v2, nil) // killed: its counters restarted
	for _, r := range []*rig{l1, l2} {
		s.epcisComplete(t, r)
	}

	// The dead letters are exactly the malformed messages.
	var dead struct {
		DeadLetters []struct {
			Line, Reason  string
			PayloadText   string          `json:"payload_text"`
			PayloadBase64 []byte          `json:"payload_base64"`
			Payload       json.RawMessage `json:"payload"`
		} `json:"dead_letters"`
	}
	s.api.must(t, "GET", "/api/v1/dead-letters?limit=1000", nil, &dead)
	var got []string
	for _, d := range dead.DeadLetters {
		text := d.PayloadText + string(d.PayloadBase64) + string(d.Payload)
		marker := ""
		for _, m := range sent {
			if strings.Contains(text, m) {
				require.Empty(t, marker, "dead letter %q carries two markers", text)
				marker = m
			}
		}
		require.NotEmpty(t, marker, "dead letter of line %s is not one of the malformed messages: %s (%s)", d.Line, text, d.Reason)
		got = append(got, marker)
	}
	require.ElementsMatch(t, sent, got, "one dead letter per malformed message")
}

// rogueLine is a line with credentials and no agent: a compromised or
// broken line PC publishing what it should not.
type rogueLine struct {
	id string
	c  mqtt.Client
}

// addRogue creates line id at central and connects with its credentials.
func (s *system) addRogue(t *testing.T, id string) *rogueLine {
	t.Helper()
	var ln struct {
		MQTTPassword string `json:"mqtt_password"`
	}
	s.api.must(t, "PUT", "/api/v1/lines/"+id, map[string]any{"name": "Rogue " + id}, &ln)
	s.mq.AddUser(t, id, ln.MQTTPassword)
	return &rogueLine{id: id, c: s.mqttClient(t, id+"-pc", id, ln.MQTTPassword)}
}

// mqttClient connects to the system's broker, reconnecting after a
// broker restart.
func (s *system) mqttClient(t testing.TB, clientID, user, password string) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(s.mq.URL()).SetClientID(clientID).SetUsername(user).SetPassword(password).
		SetAutoReconnect(true).SetMaxReconnectInterval(500 * time.Millisecond).SetConnectTimeout(5 * time.Second).SetCleanSession(true)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(wait))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func publish(t testing.TB, c mqtt.Client, topic string, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	require.True(t, tok.WaitTimeout(wait), "publish to %s", topic)
	require.NoError(t, tok.Error())
}

// publishMalformed publishes, on the rogue line's own events topic, a
// payload that is not JSON, a batch of an unknown version, and a batch of
// three events each wrong in its own way (their seqs are the rogue line's
// next, so nothing is held behind a gap). It returns the marker each dead
// letter will carry.
func (r *rogueLine) publishMalformed(t *testing.T, round string) []string {
	t.Helper()
	topic, err := wire.Topic(r.id, wire.KindEvents)
	require.NoError(t, err)
	m := func(what string) string { return "junk-" + round + "-" + what }
	publish(t, r.c, topic, []byte("{not json "+m("json")))
	publish(t, r.c, topic, fmt.Appendf(nil, `{"v":99,"line":%q,"events":[],"note":%q}`, r.id, m("version")))
	base := uint64(0)
	if round == "b" {
		base = 3
	}
	at := time.Now().UTC()
	counter := uint64(7)
	events := []wire.Event{
		// GTIN with a wrong check digit.
		{ID: m("checkdigit"), Seq: base + 1, Type: wire.Commissioned, At: at, Order: "WO-NONE", GTIN: "09506000134360", Serial: "1", Lot: "L", Expiry: expiry, Counter: &counter},
		// An order that does not exist.
		{ID: m("order"), Seq: base + 2, Type: wire.Commissioned, At: at, Order: "WO-NONE", GTIN: gtin, Serial: "1", Lot: "L", Expiry: expiry, Counter: &counter},
		// A serial in CSET 82's complement.
		{ID: m("serial"), Seq: base + 3, Type: wire.Decommissioned, At: at, Order: "WO-NONE", GTIN: gtin, Serial: "a b", Lot: "L", Expiry: expiry, Reason: wire.ReasonDamaged, Counter: &counter},
	}
	b, err := json.Marshal(wire.EventBatch{V: 1, Line: r.id, Events: events})
	require.NoError(t, err)
	publish(t, r.c, topic, b)
	return []string{m("json"), m("version"), m("checkdigit"), m("order"), m("serial")}
}

// publishGarbage publishes a payload that is not JSON on a producing
// line's own events topic, with the line's credentials: it is dead-
// lettered and must not block the line's events behind it.
func publishGarbage(t *testing.T, s *system, r *rig, round string) string {
	t.Helper()
	marker := "junk-" + round + "-" + r.id
	topic, err := wire.Topic(r.id, wire.KindEvents)
	require.NoError(t, err)
	c := s.mqttClient(t, r.id+"-garbage-"+round, r.id, r.password)
	publish(t, c, topic, []byte("\x00\x01 binary "+marker))
	return marker
}

// publishForeign has line a's credentials publish a well-formed event on
// line b's topic and on a topic outside the contract, and an unknown
// login try to connect: the broker must stop all three.
func (s *system) publishForeign(t *testing.T, a, b *rig) {
	t.Helper()
	c := s.mqttClient(t, a.id+"-foreign", a.id, a.password)
	topic, err := wire.Topic(b.id, wire.KindEvents)
	require.NoError(t, err)
	counter := uint64(1)
	ev := wire.Event{ID: "foreign-1", Seq: 1_000_000, Type: wire.Commissioned, At: time.Now().UTC(), Order: b.order, GTIN: gtin, Serial: "1", Lot: "LOT-" + b.id, Expiry: expiry, Counter: &counter}
	p, err := json.Marshal(wire.EventBatch{V: 1, Line: b.id, Events: []wire.Event{ev}})
	require.NoError(t, err)
	publish(t, c, topic, p) // acknowledged and dropped by Mosquitto
	publish(t, c, "serialine/v1/lines/"+a.id+"/bogus", []byte("foreign-2"))
	require.Error(t, mosquittotest.Connect(s.mq.Addr, "intruder", "intruder", "guess"), "an unknown login is refused")
}

// awaitDeadLetters waits until central holds n dead letters.
func (s *system) awaitDeadLetters(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var dead struct {
			DeadLetters []json.RawMessage `json:"dead_letters"`
		}
		code, _ := s.api.do(t, "GET", "/api/v1/dead-letters?limit=1000", nil, &dead)
		return code == http.StatusOK && len(dead.DeadLetters) >= n
	}, wait, 50*time.Millisecond, "central dead-letters the %d malformed messages", n)
}

// awaitAlarm waits until the agent shows an alarm of device that stopped
// the line.
func (r *rig) awaitAlarm(t testing.TB, device string) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, a := range r.state(t).Alarms {
			if a.Device == device && a.StoppedLine {
				return true
			}
		}
		return false
	}, wait, 10*time.Millisecond, "line %s: a %s alarm stops the line", r.id, device)
}

// epcisComplete checks that every unit central has of r's order has the
// EPCIS event of its fate (commissioning, or decommissioning for a
// rejected or voided unit), and reads a few back through GET /epcis/events.
func (s *system) epcisComplete(t *testing.T, r *rig) {
	t.Helper()
	// A query brings the projection of line events up to date.
	s.api.must(t, "GET", "/epcis/events?EQ_bizStep=commissioning&perPage=1", nil, nil)
	db := s.db(t)
	var missing int
	// The projection maps commissioned to commissioning, and decommissioned
	// (rejected at the camera) and voided to decommissioning.
	require.NoError(t, db.QueryRow(testkit.ContextFor(t, wait), `
		SELECT count(*) FROM units u
		WHERE u.order_id = $1 AND NOT EXISTS (
			SELECT 1 FROM epcis_event_epcs x JOIN epcis_events e ON e.id = x.event_id
			WHERE x.epc = 'https://id.gs1.org/01/' || u.gtin || '/21/' || u.serial
			  AND e.biz_step = CASE u.state WHEN 'commissioned' THEN 'commissioning' ELSE 'decommissioning' END)`, r.order).Scan(&missing))
	require.Zero(t, missing, "line %s: units without the EPCIS event of their fate", r.id)
	var sample []string
	rows, err := db.Query(testkit.ContextFor(t, wait), "SELECT serial FROM units WHERE order_id = $1 AND state = 'commissioned' ORDER BY serial LIMIT 3", r.order)
	require.NoError(t, err)
	for rows.Next() {
		var sn string
		require.NoError(t, rows.Scan(&sn))
		sample = append(sample, sn)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, sample)
	for _, sn := range sample {
		var doc struct {
			EPCISBody struct {
				QueryResults struct {
					ResultsBody struct {
						EventList []struct {
							BizStep string `json:"bizStep"`
						} `json:"eventList"`
					} `json:"resultsBody"`
				} `json:"queryResults"`
			} `json:"epcisBody"`
		}
		s.api.must(t, "GET", "/epcis/events?MATCH_epc=https://id.gs1.org/01/"+gtin+"/21/"+sn, nil, &doc)
		var steps []string
		for _, e := range doc.EPCISBody.QueryResults.ResultsBody.EventList {
			steps = append(steps, e.BizStep)
		}
		require.Contains(t, steps, "commissioning", "line %s: unit %s's EPCIS history", r.id, sn)
	}
}
