package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/internal/testkit"
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
		{"bad role", []OperatorConfig{{Name: "Ana", PINHash: good, Role: "admin"}}, `operators[0] (Ana).role: must be operator, supervisor or qa, got "admin"`},
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
		pin string
		who Person
		ok  bool
	}{
		{pinAna, Person{"Ana", station.RoleOperator}, true}, {pinBen, Person{"Ben", station.RoleOperator}, true},
		{pinSam, Person{"Sam", station.RoleSupervisor}, true}, {pinQuinn, Person{"Quinn", station.RoleQA}, true},
		{"1235", Person{}, false}, {"12", Person{}, false}, {"98765", Person{}, false},
	} {
		t.Run(tc.pin, func(t *testing.T) {
			who, ok := ops.Check(tc.pin)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.who, who)
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
			_, err := New(tc.cfg, newFakeLine(), testOperators(t), nil, testkit.Discard())
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := New(Config{}, nil, testOperators(t), nil, testkit.Discard())
	require.ErrorContains(t, err, "line")
}
