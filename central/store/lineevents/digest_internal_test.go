package lineevents

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/wire"
)

// TestEventDigestCoversEveryField: changing any field of an event changes
// its digest, so a replay with other content is always a conflict. A
// field added to wire.Event without a place in eventDigest fails here.
// The digest does not depend on the time zone of the instant, nor on the
// order of a map.
func TestEventDigestCoversEveryField(t *testing.T) {
	c := uint64(7)
	base := wire.Event{ID: "L1:1", Seq: 1, Type: wire.Commissioned, At: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)}
	d0 := eventDigest(&base)
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		e := base
		v := reflect.ValueOf(&e).Elem().Field(i)
		switch f.Name {
		case "At":
			e.At = e.At.Add(time.Nanosecond)
		case "Counter":
			e.Counter = &c
		case "Children":
			e.Children = []string{"(00)106141410000000072"}
		case "Ranges":
			e.Ranges = []wire.CounterRange{{Start: 1, Count: 2}}
		case "Counts":
			e.Counts = &wire.Reconciliation{Decommissioned: map[wire.Reason]uint64{wire.ReasonSample: 1}}
		default:
			switch v.Kind() {
			case reflect.String:
				v.SetString(v.String() + "x")
			case reflect.Uint64:
				v.SetUint(v.Uint() + 1)
			default:
				t.Fatalf("wire.Event.%s (%s): give it a place in eventDigest and a case here", f.Name, f.Type)
			}
		}
		require.NotEqual(t, d0, eventDigest(&e), "wire.Event.%s is not in the digest", f.Name)
	}

	inParis := base
	inParis.At = base.At.In(time.FixedZone("CEST", 2*3600))
	require.Equal(t, d0, eventDigest(&inParis), "the same instant")
	a, b := base, base
	a.Counts = &wire.Reconciliation{Decommissioned: map[wire.Reason]uint64{wire.ReasonSample: 1, wire.ReasonNoRead: 2}}
	b.Counts = &wire.Reconciliation{Decommissioned: map[wire.Reason]uint64{wire.ReasonNoRead: 2, wire.ReasonSample: 1}}
	require.Equal(t, eventDigest(&a), eventDigest(&b))
	// Each counts field is its own.
	a.Counts.Commissioned, b.Counts.Voided = 1, 1
	require.NotEqual(t, eventDigest(&a), eventDigest(&b))
}
