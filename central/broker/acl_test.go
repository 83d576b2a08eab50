package broker

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/wire"
)

func TestAllowed(t *testing.T) {
	type tc struct {
		name    string
		user    string
		service bool
		topic   string
		write   bool
		want    bool
	}
	var cases []tc
	// Every kind of the contract × own line / other line, for publish and read.
	for _, info := range wire.Topics() {
		own := topic("L1", info.Kind)
		other := topic("L2", info.Kind)
		edge := info.FromEdge
		cases = append(cases,
			tc{"line writes own " + info.Kind, "L1", false, own, true, edge},
			tc{"line reads own " + info.Kind, "L1", false, own, false, !edge},
			tc{"line writes other line's " + info.Kind, "L1", false, other, true, false},
			tc{"line reads other line's " + info.Kind, "L1", false, other, false, false},
			tc{"line reads all lines' " + info.Kind, "L1", false, "serialine/v1/lines/+/" + info.Kind, false, false},
			tc{"line shares own " + info.Kind, "L1", false, "$share/g/" + own, false, !edge},
			tc{"line shares other line's " + info.Kind, "L1", false, "$share/g/" + other, false, false},
			tc{"service writes " + info.Kind, serviceUser, true, own, true, true},
			tc{"service reads " + info.Kind, serviceUser, true, own, false, true},
			tc{"service reads all lines' " + info.Kind, serviceUser, true, "serialine/v1/lines/+/" + info.Kind, false, true},
			tc{"service shares all lines' " + info.Kind, serviceUser, true, "$share/central/serialine/v1/lines/+/" + info.Kind, false, true},
		)
	}
	cases = append(cases, []tc{
		// Wildcards that would reach other lines, or beyond the contract.
		{"line reads #", "L1", false, "#", false, false},
		{"line reads +/#", "L1", false, "+/#", false, false},
		{"line reads the root", "L1", false, "serialine/v1/#", false, false},
		{"line reads its own subtree", "L1", false, "serialine/v1/lines/L1/#", false, false},
		{"line reads its own kinds by +", "L1", false, "serialine/v1/lines/L1/+", false, false},
		{"line reads its serials by #", "L1", false, "serialine/v1/lines/L1/serials/#", false, false},
		{"line reads its grants by +", "L1", false, "serialine/v1/lines/L1/serials/+", false, false},
		{"line shares #", "L1", false, "$share/g/#", false, false},
		{"line joins central's share", "L1", false, "$share/central/serialine/v1/lines/+/events", false, false},
		{"line reads $SYS", "L1", false, "$SYS/#", false, false},
		// Not quite the contract's topics.
		{"line writes a level below events", "L1", false, topic("L1", "events/x"), true, false},
		{"line writes serials", "L1", false, topic("L1", "serials"), true, false},
		{"line writes its line level", "L1", false, "serialine/v1/lines/L1", true, false},
		{"line writes an unknown kind", "L1", false, topic("L1", "config"), true, false},
		{"line writes with a trailing slash", "L1", false, topic("L1", "events") + "/", true, false},
		{"line writes to v2", "L1", false, "serialine/v2/lines/L1/events", true, false},
		{"line writes a wildcard", "L1", false, "serialine/v1/lines/L1/+", true, false},
		{"line writes an empty topic", "L1", false, "", true, false},
		{"line case differs", "l1", false, topic("L1", "events"), true, false},
		// Usernames that are not line ids never get anything, whatever %u would make of them.
		{"username with separator", "L1/events", false, "serialine/v1/lines/L1/events/events", true, false},
		{"username +", "+", false, "serialine/v1/lines/+/acks", false, false},
		{"username #", "#", false, "serialine/v1/lines/#/acks", false, false},
		{"empty username", "", false, "serialine/v1/lines//events", true, false},
		{"too long username", strings.Repeat("L", 65), false, topic(strings.Repeat("L", 65), "events"), true, false},
		// The service user: everything under serialine/v1/, nothing outside.
		{"service reads serialine/v1/#", serviceUser, true, "serialine/v1/#", false, true},
		{"service shares serialine/v1/#", serviceUser, true, "$share/central/serialine/v1/#", false, true},
		{"service writes other v1 topic", serviceUser, true, "serialine/v1/admin/notice", true, true},
		{"service reads #", serviceUser, true, "#", false, false},
		{"service reads serialine/#", serviceUser, true, "serialine/#", false, false},
		{"service reads serialine/+/lines/+/events", serviceUser, true, "serialine/+/lines/+/events", false, false},
		{"service reads the bare root", serviceUser, true, "serialine/v1/", false, false},
		{"service writes the bare root", serviceUser, true, "serialine/v1/", true, false},
		{"service writes outside", serviceUser, true, "other/topic", true, false},
		{"service reads $SYS", serviceUser, true, "$SYS/broker/clients", false, false},
		{"service writes a wildcard", serviceUser, true, "serialine/v1/lines/+/acks", true, false},
		{"service writes a $share topic", serviceUser, true, "$share/central/serialine/v1/lines/L1/acks", true, false},
		{"service name without the flag is a line", serviceUser, false, "serialine/v1/#", false, false},
		// Malformed filters and shared subscriptions.
		{"# not last", serviceUser, true, "serialine/v1/#/events", false, false},
		{"# inside a level", serviceUser, true, "serialine/v1/lines/L1#", false, false},
		{"+ inside a level", serviceUser, true, "serialine/v1/lines/L+/events", false, false},
		{"NUL in filter", serviceUser, true, "serialine/v1/lines/L1/acks\x00", false, false},
		{"NUL in topic", serviceUser, true, "serialine/v1/lines/L1/acks\x00", true, false},
		{"$share without group", serviceUser, true, "$share//serialine/v1/#", false, false},
		{"$share without filter", serviceUser, true, "$share/central", false, false},
		{"$share with empty filter", serviceUser, true, "$share/central/", false, false},
		{"$share with wildcard group", serviceUser, true, "$share/+/serialine/v1/#", false, false},
		{"empty filter", serviceUser, true, "", false, false},
	}...)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, Allowed(c.user, c.service, c.topic, c.write),
				"Allowed(%q, %v, %q, write=%v)", c.user, c.service, c.topic, c.write)
		})
	}
}

// The service root must contain the contract's topics, or the service user
// could not reach the lines.
func TestServiceRootHoldsTheContract(t *testing.T) {
	require.True(t, strings.HasPrefix(wire.TopicRoot, ServiceRoot), "%q under %q", wire.TopicRoot, ServiceRoot)
}

func BenchmarkAllowed(b *testing.B) {
	for b.Loop() {
		if !Allowed("L1", false, "serialine/v1/lines/L1/events", true) {
			b.Fatal("own events denied")
		}
	}
}
