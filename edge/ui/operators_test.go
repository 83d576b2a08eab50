package ui

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/pool"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
)

func TestNewOperatorsRejectsBadConfig(t *testing.T) {
	good, err := HashPIN("1234", 1000)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		cfg  []OperatorConfig
		want string
	}{
		{"none", nil, "operators: none configured"},
		{"no name", []OperatorConfig{{PINHash: good}}, "operators[0].name: missing"},
		{"twice", []OperatorConfig{{Name: "Ana", PINHash: good}, {Name: "Ana", PINHash: good}}, `operators[1].name: "Ana" appears twice`},
		{"clear PIN", []OperatorConfig{{Name: "Ana", PINHash: "1234"}}, "operators[0] (Ana).pin_hash: want pbkdf2-sha256$"},
		{"few iterations", []OperatorConfig{{Name: "Ana", PINHash: strings.Replace(good, "$1000$", "$10$", 1)}}, "iterations"},
		{"bad salt", []OperatorConfig{{Name: "Ana", PINHash: "pbkdf2-sha256$1000$!!$" + strings.Split(good, "$")[3]}}, "salt"},
		{"short key", []OperatorConfig{{Name: "Ana", PINHash: good[:len(good)-4]}}, "key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewOperators(tc.cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestOperatorsCheck(t *testing.T) {
	ops := testOperators(t)
	for _, tc := range []struct {
		pin, name string
		ok        bool
	}{
		{pinAna, "Ana", true}, {pinBen, "Ben", true}, {"1235", "", false}, {"12", "", false}, {"98765", "", false},
	} {
		t.Run(tc.pin, func(t *testing.T) {
			name, ok := ops.Check(tc.pin)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.name, name)
		})
	}
	t.Run("shared PIN identifies nobody", func(t *testing.T) {
		h1, err := HashPIN("5555", 1000)
		require.NoError(t, err)
		h2, err := HashPIN("5555", 1000)
		require.NoError(t, err)
		require.NotEqual(t, h1, h2, "salted")
		ops, err := NewOperators([]OperatorConfig{{Name: "A", PINHash: h1}, {Name: "B", PINHash: h2}})
		require.NoError(t, err)
		_, ok := ops.Check("5555")
		require.False(t, ok)
	})
	_, err := HashPIN("12ab", 0)
	require.ErrorIs(t, err, ErrBadPIN)
}

func TestBuildView(t *testing.T) {
	base := func() agent.State {
		o := testOrder("WO-1")
		return agent.State{Snapshot: station.Snapshot{Line: "L1", State: wire.LineRunning, Order: &o,
			Counts: station.Counts{Good: 7},
			Devices: map[string]wire.DeviceHealth{"zeta": {State: wire.DeviceOK}, "plc": {State: wire.DeviceOK},
				"scanner": {State: wire.DeviceWarning, Detail: "grade C"}, "printer": {State: wire.DeviceOK}},
			Alarms: []station.Alarm{
				{Device: "plc", Fault: "gone", Acked: true},
				{Device: "scanner", Fault: "dirty window", Active: true, Acked: true, StoppedLine: true},
			}}}
	}
	for _, tc := range []struct {
		name      string
		pool      *pool.Level
		level     string
		minutes   *float64
		done      uint64
		progress  float64
		expiry    string
		rawExpiry string
	}{
		{"no pool", nil, "", nil, 7, 0.7, "2027-12-31", "271231"},
		{"plenty", &pool.Level{Order: "WO-1", Available: 5000, Rate: 100, MinutesLeft: 50, Counts: wire.Reconciliation{Commissioned: 250}}, "ok", ptr(50.0), 250, 25, "2027-12", "271200"},
		{"low", &pool.Level{Order: "WO-1", Available: 500, Rate: 100, MinutesLeft: 5}, "low", ptr(5.0), 0, 0, "2027-12-31", "271231"},
		{"empty", &pool.Level{Order: "WO-1", Available: 0, Rate: 100}, "empty", ptr(0.0), 0, 0, "2027-12-31", "271231"},
		{"idle line", &pool.Level{Order: "WO-1", Available: 10, Rate: 0, MinutesLeft: math.Inf(1)}, "ok", nil, 0, 0, "2027-12-31", "271231"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			s.Pool = tc.pool
			s.Order.Expiry = tc.rawExpiry
			v := buildView(s, "Ana", 10, time.Time{})
			require.Equal(t, tc.expiry, v.Order.Expiry)
			require.Equal(t, tc.done, v.Order.Done)
			require.Equal(t, tc.progress, v.Order.Progress)
			if tc.pool == nil {
				require.Nil(t, v.Pool)
			} else {
				require.Equal(t, tc.level, v.Pool.Level)
				require.Equal(t, tc.minutes, v.Pool.MinutesLeft)
			}
			var names []string
			for _, d := range v.Devices {
				names = append(names, d.Name)
			}
			require.Equal(t, []string{"printer", "scanner", "plc", "zeta"}, names)
			require.Equal(t, "grade C", v.Devices[1].Detail)
			require.Equal(t, []AlarmView{{Device: "scanner", Fault: "dirty window", Active: true}}, v.Alarms,
				"acked and cleared alarms go; acked active ones stay without a button")
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{SessionIdle: -time.Second}, "session_idle"},
		{Config{MaxPINFailures: -1}, "max_pin_failures"},
		{Config{PoolWarnMinutes: -1}, "pool_warn_minutes"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := New(tc.cfg, newFakeLine(), testOperators(t), nil, discard())
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := New(Config{}, nil, testOperators(t), nil, discard())
	require.ErrorContains(t, err, "line")
}
