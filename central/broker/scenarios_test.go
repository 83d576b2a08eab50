package broker

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// serviceUser is central's service user in every target; configs/mosquitto/acl
// names it on its "user" line.
const serviceUser = "central"

// testLines are the lines every target knows, with their passwords. Each
// scenario uses its own lines so that retained messages of one cannot
// reach another.
func testLines() map[string]string {
	lines := map[string]string{}
	for i := 1; i <= 9; i++ {
		line := fmt.Sprintf("L%d", i)
		lines[line] = "pw-" + line + "-s3cret"
	}
	return lines
}

// target is a broker under test: the embedded one or a real Mosquitto
// running configs/mosquitto. Both must enforce the same rules.
type target struct {
	addr            string
	servicePassword string
	// subackDenied: a denied SUBSCRIBE gets return code 0x80. Mosquitto's
	// acl_file never checks SUBSCRIBE: it grants it and checks every
	// delivery instead, so nothing unreadable arrives either way.
	subackDenied bool
	// settle returns once the broker is done with the connection c.cut
	// closed, its last will included.
	settle func(t *testing.T, c *client, user, password string)
}

// runScenarios checks the ACL rules of the wire contract against tg with
// real paho clients.
func runScenarios(t *testing.T, tg target) {
	lines := testLines()
	service := func(t *testing.T, id string) *client {
		return mustDial(t, tg.addr, id, serviceUser, tg.servicePassword)
	}
	line := func(t *testing.T, id, line string, opts ...clientOpt) *client {
		return mustDial(t, tg.addr, id, line, lines[line], opts...)
	}

	t.Run("unknown credentials are refused at CONNECT", func(t *testing.T) {
		cases := []struct {
			name, user, password string
		}{
			{"wrong password", "L1", "not-the-password"},
			{"unknown line", "L99", "pw-L99-s3cret"},
			{"no username", "", ""},
			{"username with a level separator", "L1/acks", lines["L1"]},
			{"wildcard username", "+", lines["L1"]},
			{"service user with a wrong password", serviceUser, "not-the-password"},
			{"service user with a line's password", serviceUser, lines["L1"]},
			{"another line's password", "L2", lines["L1"]},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := dial(t, tg.addr, fmt.Sprintf("refused-%d", i), tc.user, tc.password)
				require.Error(t, err)
				require.True(t, refused(err), "want a refused login, got %v", err)
			})
		}
	})

	t.Run("a line publishes only to its own edge topics", func(t *testing.T) {
		svc := service(t, "svc-pub")
		svc.mustSubscribe(t, "serialine/v1/#")
		l1 := line(t, "pub-L1", "L1")
		forbidden := []string{
			topic("L2", "events"),
			topic("L2", "status"),
			topic("L2", "serials/request"),
			topic("L1", "acks"),
			topic("L1", "orders"),
			topic("L1", "serials/grant"),
			topic("L1", "events/extra"),
			topic("L1", "serials"),
			"serialine/v1/lines/L1",
			"serialine/v1/other",
		}
		for i, f := range forbidden {
			t.Run(f, func(t *testing.T) {
				// The broker acknowledges the forbidden publish (3.1.1 has no
				// negative PUBACK) and drops it; the allowed one right after
				// must be the next thing the service user sees.
				l1.publish(t, f, fmt.Sprintf("forbidden-%d", i), false)
				allowed := fmt.Sprintf("allowed-%d", i)
				l1.publish(t, topic("L1", "events"), allowed, false)
				got := svc.until(t, allowed)
				require.Equal(t, []string{topic("L1", "events") + " " + allowed}, payloads(got))
			})
		}
		for _, kind := range []string{"events", "status", "serials/request"} {
			l1.publish(t, topic("L1", kind), "own-"+kind, false)
			require.Equal(t, msg{topic: topic("L1", kind), payload: "own-" + kind}, svc.next(t))
		}
		require.True(t, l1.IsConnectionOpen(), "a denied publish must not cost the line its connection")
	})

	t.Run("a line subscribes only to its own central topics", func(t *testing.T) {
		svc := service(t, "svc-sub")
		cases := []struct {
			filter, probe string // probe: a topic the filter matches that L3 may not read
		}{
			{topic("L4", "acks"), topic("L4", "acks")},
			{topic("L4", "orders"), topic("L4", "orders")},
			{"serialine/v1/lines/+/acks", topic("L4", "acks")},
			{"serialine/v1/lines/+/serials/grant", topic("L4", "serials/grant")},
			{"#", topic("L4", "acks")},
			{"serialine/v1/#", topic("L4", "orders")},
			{"$share/g/" + topic("L4", "acks"), topic("L4", "acks")},
			{"$share/central/serialine/v1/lines/+/events", topic("L4", "events")},
			{topic("L3", "events"), topic("L3", "events")},
			{topic("L3", "status"), topic("L3", "status")},
			{"serialine/v1/lines/L3/+", topic("L3", "events")},
			{"serialine/v1/lines/L3/serials/#", topic("L3", "serials/request")},
		}
		for i, tc := range cases {
			t.Run(tc.filter, func(t *testing.T) {
				l3 := line(t, fmt.Sprintf("sub-L3-%d", i), "L3")
				l3.mustSubscribe(t, topic("L3", "acks"))
				code := l3.subscribe(t, tc.filter)
				if tg.subackDenied {
					require.Equal(t, byte(0x80), code, "SUBACK for %q", tc.filter)
				}
				probe := fmt.Sprintf("probe-%d", i)
				svc.publish(t, tc.probe, probe, false)
				sentinel := fmt.Sprintf("sentinel-%d", i)
				svc.publish(t, topic("L3", "acks"), sentinel, false)
				for _, m := range l3.until(t, sentinel) {
					require.NotEqual(t, probe, m.payload, "L3 read %s through %q", m.topic, tc.filter)
				}
			})
		}
	})

	t.Run("a line receives its own acks, orders and grants", func(t *testing.T) {
		svc := service(t, "svc-own")
		l5 := line(t, "own-L5", "L5")
		l6 := line(t, "own-L6", "L6")
		kinds := []string{"acks", "orders", "serials/grant"}
		for _, kind := range kinds {
			require.Equal(t, byte(1), l5.subscribe(t, topic("L5", kind)), "SUBACK for L5 %s", kind)
			l6.mustSubscribe(t, topic("L6", kind))
		}
		var want []msg
		for _, kind := range kinds {
			svc.publish(t, topic("L5", kind), "to-L5-"+kind, false)
			want = append(want, msg{topic: topic("L5", kind), payload: "to-L5-" + kind})
		}
		for _, w := range want {
			require.Equal(t, w, l5.next(t))
		}
		svc.publish(t, topic("L6", "acks"), "to-L6", false)
		require.Equal(t, []string{topic("L6", "acks") + " to-L6"}, payloads(l6.until(t, "to-L6")),
			"L6 must see none of L5's messages")
	})

	t.Run("retained orders are delivered on subscribe", func(t *testing.T) {
		svc := service(t, "svc-retained")
		svc.publish(t, topic("L7", "orders"), "orders-v1", true)

		l7 := line(t, "retained-L7", "L7")
		l7.mustSubscribe(t, topic("L7", "orders"))
		require.Equal(t, msg{topic: topic("L7", "orders"), payload: "orders-v1", retained: true}, l7.next(t))

		// A line may not replace its own orders: the retained ones stay central's.
		l7.publish(t, topic("L7", "orders"), "forged-orders", true)
		again := line(t, "retained-L7-again", "L7")
		again.mustSubscribe(t, topic("L7", "orders"))
		require.Equal(t, msg{topic: topic("L7", "orders"), payload: "orders-v1", retained: true}, again.next(t))
	})

	t.Run("last will on status when a line's connection drops", func(t *testing.T) {
		svc := service(t, "svc-will")
		svc.mustSubscribe(t, topic("L8", "status"))
		l8 := line(t, "will-L8", "L8", withWill(topic("L8", "status"), "offline"))
		l8.publish(t, topic("L8", "status"), "running", true)
		// Live, or (when the broker had not finished the subscription yet)
		// as the retained message, or both: the status arrives.
		first := svc.next(t)
		require.Equal(t, msg{topic: topic("L8", "status"), payload: "running"}, msg{topic: first.topic, payload: first.payload})

		l8.cut(t)
		got := svc.until(t, "offline")
		for _, m := range got[:len(got)-1] {
			require.Equal(t, "running", m.payload, "only the retained copy of the status may come before the will")
		}
		require.Equal(t, msg{topic: topic("L8", "status"), payload: "offline"}, got[len(got)-1])
		// The will is retained: whoever looks later sees the line offline.
		late := service(t, "svc-will-late")
		late.mustSubscribe(t, topic("L8", "status"))
		require.Equal(t, msg{topic: topic("L8", "status"), payload: "offline", retained: true}, late.next(t))
	})

	t.Run("a last will on another line's topic is dropped", func(t *testing.T) {
		svc := service(t, "svc-forged-will")
		svc.mustSubscribe(t, topic("L9", "status"))
		forger := line(t, "forger-L1", "L1", withWill(topic("L9", "status"), "forged-offline"))
		forger.cut(t)
		tg.settle(t, forger, "L1", lines["L1"])
		svc.publish(t, topic("L9", "status"), "sentinel", false)
		require.Equal(t, []string{topic("L9", "status") + " sentinel"}, payloads(svc.until(t, "sentinel")))
	})

	t.Run("service replicas share the events feed", func(t *testing.T) {
		const perLine = 100
		replicas := []*client{service(t, "central-1"), service(t, "central-2")}
		for _, r := range replicas {
			r.mustSubscribe(t, "$share/central/serialine/v1/lines/+/events")
			// Not shared: every replica sees each line's flush marker after
			// that line's events, so it knows it has all of its share.
			r.mustSubscribe(t, "serialine/v1/lines/+/status")
		}
		publishers := []string{"L1", "L2"}
		for _, l := range publishers {
			p := line(t, "share-"+l, l)
			for i := range perLine {
				p.publish(t, topic(l, "events"), fmt.Sprintf("%s-e%03d", l, i), false)
			}
			p.publish(t, topic(l, "status"), "flush-"+l, false)
		}
		seen := map[string]int{}
		for _, r := range replicas {
			flushes, share := 0, 0
			for flushes < len(publishers) {
				m := r.next(t)
				switch {
				case m.payload == "flush-L1" || m.payload == "flush-L2":
					flushes++
				case m.topic == topic("L1", "events") || m.topic == topic("L2", "events"):
					seen[m.payload]++
					share++
				}
			}
			require.Positive(t, share, "replica %s got no share of the feed", r.id)
		}
		require.Len(t, seen, perLine*len(publishers), "every event reaches one replica")
		for p, n := range seen {
			require.Equal(t, 1, n, "event %s delivered %d times", p, n)
		}
	})
}
