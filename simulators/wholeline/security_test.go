package wholeline_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/api"
	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/shared/wire"
)

// TestSecurity is issue #7's security check, against the running
// programs: a line's credentials can neither publish on nor read another
// line's topics; central's API refuses a missing, a wrong and an
// under-privileged token on every route; the edge touchscreen refuses
// every line action without an operator's sign-in.
func TestSecurity(t *testing.T) {
	s := newSystem(t)
	l1 := s.addLine(t, "L1", lineOpts{units: 10, speed: 600})
	l2 := s.addLine(t, "L2", lineOpts{units: 10, speed: 600})

	t.Run("a line cannot read another line's topics", func(t *testing.T) {
		// L2's retained orders reach L2, never L1 (the wildcard included).
		spy := s.mqttClient(t, "L1-spy", l1.id, l1.password)
		got := make(chan string, 16)
		for _, filter := range []string{"serialine/v1/lines/" + l2.id + "/#", "serialine/v1/#"} {
			tok := spy.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() })
			require.True(t, tok.WaitTimeout(wait))
			require.NoError(t, tok.Error())
		}
		own := s.mqttClient(t, "L2-own", l2.id, l2.password)
		mine := make(chan string, 16)
		ordersL2, err := wire.Topic(l2.id, wire.KindOrders)
		require.NoError(t, err)
		tok := own.Subscribe(ordersL2, 1, func(_ mqtt.Client, m mqtt.Message) { mine <- m.Topic() })
		require.True(t, tok.WaitTimeout(wait))
		require.NoError(t, tok.Error())
		select {
		case topic := <-mine:
			require.Equal(t, ordersL2, topic, "L2 reads its own retained orders")
		case <-time.After(wait):
			t.Fatal("L2 never got its retained orders")
		}
		// The spy subscribed first: had the broker let it, the retained
		// orders of L2 were on their way before L2's own copy.
		ordersL1, err := wire.Topic(l1.id, wire.KindOrders)
		require.NoError(t, err)
		for len(got) > 0 {
			topic := <-got
			require.Equal(t, ordersL1, topic, "L1 may read its own orders only")
		}
	})

	t.Run("a line cannot publish on another line's topics", func(t *testing.T) {
		c1 := s.mqttClient(t, "L1-forger", l1.id, l1.password)
		events2, err := wire.Topic(l2.id, wire.KindEvents)
		require.NoError(t, err)
		publish(t, c1, events2, []byte("forged by L1"))
		// Control: the same from L2 itself is dead-lettered, so central
		// would have kept the forged one too had it arrived.
		c2 := s.mqttClient(t, "L2-control", l2.id, l2.password)
		publish(t, c2, events2, []byte("sent by L2"))
		s.awaitDeadLetters(t, 1)
		var dead struct {
			DeadLetters []struct {
				PayloadText string `json:"payload_text"`
			} `json:"dead_letters"`
		}
		s.api.must(t, "GET", "/api/v1/dead-letters", nil, &dead)
		require.Len(t, dead.DeadLetters, 1)
		require.Equal(t, "sent by L2", dead.DeadLetters[0].PayloadText)
	})

	t.Run("the API refuses missing, wrong and under-privileged tokens on every route", func(t *testing.T) {
		tokens := map[auth.Role]string{}
		for _, role := range auth.Roles() {
			var out struct {
				Token string `json:"token"`
			}
			s.api.must(t, "POST", "/api/v1/tokens", map[string]string{"name": "sec-" + string(role), "role": string(role)}, &out)
			tokens[role] = out.Token
		}
		wrong := adminToken(t)
		param := regexp.MustCompile(`\{[^}]+\}`)
		for _, rt := range api.Routes() {
			path := param.ReplaceAllStringFunc(rt.Pattern, func(p string) string {
				if strings.HasSuffix(p, "...}") {
					return "x/y"
				}
				return "x"
			})
			call := func(token string) int {
				c := &client{base: s.api.base, token: token, hc: s.api.hc}
				var body any
				if rt.Method == http.MethodPost || rt.Method == http.MethodPut {
					body = map[string]any{}
				}
				code, _ := c.do(t, rt.Method, path, body, nil)
				return code
			}
			name := rt.Method + " " + rt.Pattern
			require.Equal(t, http.StatusUnauthorized, call(""), "%s without a token", name)
			require.Equal(t, http.StatusUnauthorized, call(wrong), "%s with an unknown token", name)
			for _, role := range auth.Roles() {
				if !slices.Contains(rt.Roles, role) {
					require.Equal(t, http.StatusForbidden, call(tokens[role]), "%s as %s", name, role)
				}
			}
		}
	})

	t.Run("the touchscreen refuses line actions without a sign-in, but never a stop (extend: edge/ui's role tests)", func(t *testing.T) {
		l1.startEdge(t)
		anon := newScreen(t, l1.edge.Addr())
		for _, path := range []string{"/ui/pause", "/ui/stop"} {
			code, body := anon.post(t, path, nil)
			require.Equal(t, http.StatusOK, code, "%s needs no PIN (a stop is never locked out): %s", path, body)
		}
		// Each action with the body it takes, so the refusal is the sign-in's.
		for path, req := range map[string]map[string]any{
			"/ui/start": {"order": l1.order},
			"/ui/ack":   {},
			"/ui/close": {"order": l1.order, "confirm": true},
		} {
			code, body := anon.post(t, path, req)
			require.Equal(t, http.StatusForbidden, code, "%s: %s", path, body)
			var e struct {
				SignIn bool `json:"sign_in"`
			}
			require.NoError(t, json.Unmarshal(body, &e))
			require.True(t, e.SignIn, "%s asks for a sign-in", path)
		}
		code, _ := anon.post(t, "/ui/signin", map[string]string{"pin": "0000"})
		require.Equal(t, http.StatusUnauthorized, code, "a wrong PIN")
		require.NotEqual(t, "running", string(l1.state(t).State), "nothing started")
	})
}
