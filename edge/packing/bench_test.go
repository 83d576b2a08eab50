package packing_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/edge/outbox"
	"github.com/serialine/serialine/edge/packing"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

// BenchmarkOutboxCommitWithPacking is edge/outbox's BenchmarkOutboxCommit
// with packing on: the packer's commit hook (RecordEvents) puts every
// commissioned unit into its index inside the outbox's group commit, a
// bbolt put under a random key (GTIN + randomized serial). Compare it
// with BenchmarkOutboxCommit of the same run: the difference is what
// packing costs the line's durability path.
func BenchmarkOutboxCommitWithPacking(b *testing.B) {
	const line = "t-bench-pack"
	d := startDevices(b)
	db, err := bolt.Open(filepath.Join(b.TempDir(), "edge.db"), 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	var pk *packing.Packer
	ob, err := outbox.Open(db, outbox.Config{Line: line,
		// The packer exists before the first Append below.
		Hooks: []outbox.CommitHook{func(tx *bolt.Tx, evs []wire.Event) error { return pk.RecordEvents(tx, evs) }}}, testkit.Discard())
	require.NoError(b, err)
	b.Cleanup(func() { _ = ob.Close() })
	pk, err = packing.Open(db, packCfg(line), d.prn, linked{ob: ob}, testkit.Discard())
	require.NoError(b, err)

	// Randomized serials, as a real order's, made before the clock starts.
	sc, err := serials.New(serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: serials.AlphabetNumeric, Key: "8f1e3c5a7b9d0e2f4a6c8e0b2d4f6a8c"})
	require.NoError(b, err)
	evs := make([]wire.Event, b.N)
	for i := range evs {
		s, err := sc.Serial(nil, uint64(i))
		require.NoError(b, err)
		c := uint64(i)
		evs[i] = wire.Event{Type: wire.Commissioned, At: time.Date(2026, 5, 1, 8, 0, 0, i, time.UTC), Order: "WO-1",
			GTIN: "09506000134352", Serial: string(s), Lot: "LOT42", Expiry: "271231", Counter: &c}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range evs {
		if err := ob.Append(evs[i]); err != nil {
			b.Fatal(err)
		}
	}
	require.NoError(b, ob.Flush(testkit.ContextFor(b, 2*wait)))
	b.StopTimer()
	st := ob.Stats()
	require.Equal(b, uint64(b.N), st.Events)
	b.ReportMetric(float64(st.Events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(st.Events)/float64(max(st.Commits, 1)), "events/commit")
	// The units are in the index: the last one scanned into a case is
	// not refused as not commissioned.
	require.NoError(b, pk.SetOrder(wire.Order{ID: "WO-1", GTIN: "09506000134352", Lot: "LOT42", Expiry: "271231", Quantity: uint64(b.N), State: wire.OrderStateReleased}))
	last := evs[len(evs)-1]
	out := pk.Scan(testkit.ContextFor(b, 2*wait), wire.UnitRef(last.GTIN, last.Serial))
	if out.Refusal != nil {
		require.NotEqual(b, packing.RefuseNotCommissioned, out.Refusal.Reason, out.Refusal.Detail)
	}
}
