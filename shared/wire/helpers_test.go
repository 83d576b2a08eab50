package wire_test

import (
	"testing"
	"time"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

const (
	testGTIN    = "09506000134352"
	badGTIN     = "09506000134353" // check digit off by one
	testKey     = "000102030405060708090a0b0c0d0e0f"
	testLine    = "L1"
	testOrder   = "WO-1"
	testLot     = "LOT42"
	testExpiry  = "281231"
	testCounter = uint64(17)
)

var testAt = time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC)

// validEvent returns a valid event of type typ with seq.
func validEvent(tb testing.TB, typ wire.EventType, seq uint64) wire.Event {
	tb.Helper()
	e := wire.Event{ID: "L1:" + itoa(seq), Seq: seq, Type: typ, At: testAt, Order: testOrder, Operator: "op-ana"}
	switch typ {
	case wire.Commissioned, wire.Voided, wire.Decommissioned:
		e.GTIN, e.Serial, e.Counter = testGTIN, "100"+itoa(seq), new(testCounter+seq)
		if typ != wire.Voided {
			e.Lot, e.Expiry = testLot, testExpiry
		}
		if typ == wire.Decommissioned {
			e.Reason = wire.ReasonLowGrade
		}
	case wire.Aggregated, wire.Disaggregated:
		e.Parent = testkit.SSCC(tb, 1, "0614141", 1000+seq)
		e.Children = []string{wire.UnitRef(testGTIN, "1001"), wire.UnitRef(testGTIN, "1002"), wire.SSCCRef(testkit.SSCC(tb, 1, "0614141", 7))}
	case wire.OrderClosed:
		e.Counts = &wire.Reconciliation{Granted: 10, Commissioned: 6, Decommissioned: map[wire.Reason]uint64{wire.ReasonNoRead: 1}, Voided: 1, ReturnedUnused: 2}
	case wire.SerialsReturned:
		e.GTIN = testGTIN
		e.Ranges = []wire.CounterRange{{Start: 100, Count: 50}, {Start: 10, Count: 5}}
	case wire.AllowanceExtended:
		e.Allowance, e.Note = 25, "film splice: 20 packs damaged at the infeed"
	}
	return e
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

func validBatch(tb testing.TB, n int) wire.EventBatch {
	tb.Helper()
	b := wire.EventBatch{V: wire.Version, Line: testLine}
	for i := range n {
		b.Events = append(b.Events, validEvent(tb, wire.Commissioned, uint64(i+1)))
	}
	return b
}
