package wire_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/wire"
)

func TestTopicRoundTrip(t *testing.T) {
	for _, ti := range wire.Topics() {
		t.Run(ti.Kind, func(t *testing.T) {
			topic, err := wire.Topic("Line-7_b", ti.Kind)
			require.NoError(t, err)
			require.Equal(t, "serialine/v1/lines/Line-7_b/"+ti.Kind, topic)
			line, kind, err := wire.ParseTopic(topic)
			require.NoError(t, err)
			require.Equal(t, "Line-7_b", line)
			require.Equal(t, ti.Kind, kind)
			require.Equal(t, byte(1), ti.QoS)
		})
	}
}

func TestTopicInfo(t *testing.T) {
	tests := []struct {
		kind             string
		fromEdge, retain bool
	}{
		{wire.KindEvents, true, false},
		{wire.KindAcks, false, false},
		{wire.KindStatus, true, true},
		{wire.KindOrders, false, true},
		{wire.KindSerialRequest, true, false},
		{wire.KindSerialGrant, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			ti, ok := wire.Info(tc.kind)
			require.True(t, ok)
			require.Equal(t, tc.fromEdge, ti.FromEdge)
			require.Equal(t, tc.retain, ti.Retained)
		})
	}
	_, ok := wire.Info("nope")
	require.False(t, ok)
}

func TestValidateLine(t *testing.T) {
	tests := []struct {
		name, line, wantErr string
	}{
		{"simple", "L1", ""},
		{"max length", strings.Repeat("a", 64), ""},
		{"all classes", "Az09_-", ""},
		{"empty", "", "empty"},
		{"too long", strings.Repeat("a", 65), "65 characters, at most 64"},
		{"plus wildcard", "L+1", `'+' at position 2`},
		{"hash wildcard", "#", `'#' at position 1`},
		{"level separator", "a/b", `'/' at position 2`},
		{"space", "a b", `' ' at position 2`},
		{"non-ascii", "ligne-é", "position 7"},
		{"dollar", "$SYS", `'$' at position 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := wire.ValidateLine(tc.line)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestTopicRejects(t *testing.T) {
	_, err := wire.Topic("L+", wire.KindEvents)
	require.ErrorIs(t, err, wire.ErrTopic)
	_, err = wire.Topic("L1", "serials")
	require.ErrorIs(t, err, wire.ErrTopic)
	require.ErrorContains(t, err, `unknown kind "serials"`)
}

func TestParseTopicRejects(t *testing.T) {
	tests := []struct {
		name, topic, wantErr string
	}{
		{"other root", "serialine/v2/lines/L1/events", "not under"},
		{"no kind", "serialine/v1/lines/L1", "no kind"},
		{"empty line", "serialine/v1/lines//events", "empty"},
		{"wildcard line", "serialine/v1/lines/+/events", "'+'"},
		{"unknown kind", "serialine/v1/lines/L1/eventz", `unknown kind "eventz"`},
		{"extra level", "serialine/v1/lines/L1/events/x", `unknown kind "events/x"`},
		{"serials alone", "serialine/v1/lines/L1/serials", `unknown kind "serials"`},
		{"empty", "", "not under"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := wire.ParseTopic(tc.topic)
			require.ErrorIs(t, err, wire.ErrTopic)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestFilters(t *testing.T) {
	f, err := wire.Filter(wire.KindEvents)
	require.NoError(t, err)
	require.Equal(t, "serialine/v1/lines/+/events", f)
	f, err = wire.SharedFilter("central", wire.KindSerialRequest)
	require.NoError(t, err)
	require.Equal(t, "$share/central/serialine/v1/lines/+/serials/request", f)
	_, err = wire.SharedFilter("a/b", wire.KindEvents)
	require.ErrorContains(t, err, "share group")
	_, err = wire.Filter("x")
	require.ErrorIs(t, err, wire.ErrTopic)
}
