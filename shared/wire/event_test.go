package wire_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

func TestEventRoundTripEveryType(t *testing.T) {
	for _, typ := range wire.EventTypes() {
		t.Run(string(typ), func(t *testing.T) {
			e := validEvent(t, typ, 5)
			require.NoError(t, e.Validate())
			b, err := json.Marshal(e)
			require.NoError(t, err)
			var back wire.Event
			require.NoError(t, json.Unmarshal(b, &back))
			require.Equal(t, e, back)
			require.NoError(t, back.Validate())
		})
	}
}

func TestEventJSONNames(t *testing.T) {
	e := validEvent(t, wire.Commissioned, 3)
	b, err := json.Marshal(e)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"id", "seq", "type", "at", "order", "gtin", "serial", "lot", "expiry", "counter", "operator"} {
		require.Contains(t, m, k)
	}
	for _, k := range []string{"reason", "parent", "children", "ranges", "counts"} {
		require.NotContains(t, m, k, "empty optional fields are left out")
	}
	require.Equal(t, "commissioned", m["type"])
	require.Equal(t, float64(20), m["counter"])
}

// TestEventValidate covers every rule: each case breaks one and names the
// field and the rule in the error.
func TestEventValidate(t *testing.T) {
	tests := []struct {
		name      string
		typ       wire.EventType
		mutate    func(*wire.Event)
		field     string
		wantInErr string
		gs1Rule   gs1.Rule
	}{
		{"id missing", wire.Commissioned, func(e *wire.Event) { e.ID = "" }, "id", "missing", ""},
		{"id too long", wire.Commissioned, func(e *wire.Event) { e.ID = strings.Repeat("x", 129) }, "id", "129 characters", ""},
		{"id with space", wire.Commissioned, func(e *wire.Event) { e.ID = "L1 7" }, "id", "position 3", ""},
		{"seq zero", wire.Commissioned, func(e *wire.Event) { e.Seq = 0 }, "seq", "at least 1", ""},
		{"type missing", wire.Commissioned, func(e *wire.Event) { e.Type = "" }, "type", "missing", ""},
		{"type unknown", wire.Commissioned, func(e *wire.Event) { e.Type = "printed" }, "type", `"printed" is not an event type`, ""},
		{"at missing", wire.Commissioned, func(e *wire.Event) { e.At = time.Time{} }, "at", "missing", ""},
		{"operator control char", wire.Commissioned, func(e *wire.Event) { e.Operator = "a\nb" }, "operator", "control character", ""},
		{"operator bad utf8", wire.Commissioned, func(e *wire.Event) { e.Operator = "a\xffb" }, "operator", "UTF-8", ""},
		{"order too long", wire.Commissioned, func(e *wire.Event) { e.Order = strings.Repeat("o", 257) }, "order", "257 bytes", ""},
		{"gtin check digit", wire.Commissioned, func(e *wire.Event) { e.GTIN = badGTIN }, "gtin", "AI (01)", gs1.RuleCheckDigit},
		{"gtin not 14 digits", wire.Commissioned, func(e *wire.Event) { e.GTIN = "9506000134352" }, "gtin", "14 digits", gs1.RuleLength},
		{"gtin letters", wire.Commissioned, func(e *wire.Event) { e.GTIN = "0950600013435A" }, "gtin", "AI (01)", gs1.RuleNumeric},
		{"serial too long", wire.Commissioned, func(e *wire.Event) { e.Serial = strings.Repeat("1", 21) }, "serial", "at most 20", gs1.RuleLength},
		{"serial space", wire.Commissioned, func(e *wire.Event) { e.Serial = "12 3" }, "serial", "AI (21)", gs1.RuleCharset},
		{"serial tilde", wire.Commissioned, func(e *wire.Event) { e.Serial = "12~3" }, "serial", "AI (21)", gs1.RuleCharset},
		{"lot charset", wire.Commissioned, func(e *wire.Event) { e.Lot = "LOT#1" }, "lot", "AI (10)", gs1.RuleCharset},
		{"lot too long", wire.Commissioned, func(e *wire.Event) { e.Lot = strings.Repeat("L", 21) }, "lot", "AI (10)", gs1.RuleLength},
		{"expiry format", wire.Commissioned, func(e *wire.Event) { e.Expiry = "2812" }, "expiry", "AI (17)", gs1.RuleLength},
		{"expiry date", wire.Commissioned, func(e *wire.Event) { e.Expiry = "270230" }, "expiry", "February", gs1.RuleDate},
		{"counter overflow", wire.Commissioned, func(e *wire.Event) { e.Counter = new(uint64(math.MaxUint64)) }, "counter", "2^63", ""},
		{"commissioned needs order", wire.Commissioned, func(e *wire.Event) { e.Order = "" }, "order", "commissioned events need it", ""},
		{"commissioned needs gtin", wire.Commissioned, func(e *wire.Event) { e.GTIN = "" }, "gtin", "missing", ""},
		{"commissioned needs serial", wire.Commissioned, func(e *wire.Event) { e.Serial = "" }, "serial", "missing", ""},
		{"commissioned needs lot", wire.Commissioned, func(e *wire.Event) { e.Lot = "" }, "lot", "missing", ""},
		{"commissioned needs expiry", wire.Commissioned, func(e *wire.Event) { e.Expiry = "" }, "expiry", "missing", ""},
		{"commissioned needs counter", wire.Commissioned, func(e *wire.Event) { e.Counter = nil }, "counter", "missing", ""},
		{"commissioned has no reason", wire.Commissioned, func(e *wire.Event) { e.Reason = wire.ReasonDamaged }, "reason", "only decommissioned", ""},
		{"voided has no reason", wire.Voided, func(e *wire.Event) { e.Reason = wire.ReasonNoRead }, "reason", "this one is voided", ""},
		{"voided needs counter", wire.Voided, func(e *wire.Event) { e.Counter = nil }, "counter", "voided events need it", ""},
		{"voided needs order", wire.Voided, func(e *wire.Event) { e.Order = "" }, "order", "missing", ""},
		{"decommissioned needs reason", wire.Decommissioned, func(e *wire.Event) { e.Reason = "" }, "reason", "missing", ""},
		{"decommissioned unknown reason", wire.Decommissioned, func(e *wire.Event) { e.Reason = "lost" }, "reason", `"lost" is not a reason; use one of no-read, mismatch, low-grade, damaged, sample, destroyed`, ""},
		{"decommissioned needs serial", wire.Decommissioned, func(e *wire.Event) { e.Serial = "" }, "serial", "missing", ""},
		{"commissioned has no parent", wire.Commissioned, func(e *wire.Event) { e.Parent = testkit.SSCC(t, 1, "0614141", 1) }, "parent", "only aggregated", ""},
		{"commissioned has no children", wire.Commissioned, func(e *wire.Event) { e.Children = []string{"(00)" + testkit.SSCC(t, 1, "0614141", 1)} }, "children", "only aggregated", ""},
		{"aggregated needs parent", wire.Aggregated, func(e *wire.Event) { e.Parent = "" }, "parent", "missing", ""},
		{"aggregated parent check digit", wire.Aggregated, func(e *wire.Event) { e.Parent = e.Parent[:17] + string('0'+(e.Parent[17]-'0'+1)%10) }, "parent", "AI (00)", gs1.RuleCheckDigit},
		{"aggregated needs children", wire.Aggregated, func(e *wire.Event) { e.Children = nil }, "children", "at least one child", ""},
		{"child garbage", wire.Aggregated, func(e *wire.Event) { e.Children[1] = "1001" }, "children[1]", "", gs1.RuleSyntax},
		{"child gtin check digit", wire.Aggregated, func(e *wire.Event) { e.Children[0] = "(01)" + badGTIN + "(21)1" }, "children[0]", "AI (01)", gs1.RuleCheckDigit},
		{"child lot only", wire.Aggregated, func(e *wire.Event) { e.Children[0] = "(01)" + testGTIN + "(10)L1" }, "children[0]", "neither a unit", ""},
		{"child repeated", wire.Aggregated, func(e *wire.Event) { e.Children[2] = e.Children[0] }, "children[2]", "repeats children[0]", ""},
		{"child is parent", wire.Aggregated, func(e *wire.Event) { e.Children[2] = wire.SSCCRef(e.Parent) }, "children[2]", "cannot contain itself", ""},
		{"disaggregated needs parent", wire.Disaggregated, func(e *wire.Event) { e.Parent = "" }, "parent", "missing", ""},
		{"order-started needs order", wire.OrderStarted, func(e *wire.Event) { e.Order = "" }, "order", "order-started events need it", ""},
		{"order-closed needs counts", wire.OrderClosed, func(e *wire.Event) { e.Counts = nil }, "counts", "missing", ""},
		{"order-closed bad reason", wire.OrderClosed, func(e *wire.Event) { e.Counts.Decommissioned["lost"] = 1 }, "counts.decommissioned", `"lost" is not a reason`, ""},
		{"counts only on order-closed", wire.OrderStarted, func(e *wire.Event) { e.Counts = &wire.Reconciliation{} }, "counts", "only order-closed", ""},
		{"serials-returned needs ranges", wire.SerialsReturned, func(e *wire.Event) { e.Ranges = nil }, "ranges", "missing", ""},
		{"serials-returned needs gtin", wire.SerialsReturned, func(e *wire.Event) { e.GTIN = "" }, "gtin", "missing", ""},
		{"range count zero", wire.SerialsReturned, func(e *wire.Event) { e.Ranges[1].Count = 0 }, "ranges[1].count", "at least 1", ""},
		{"range overlap", wire.SerialsReturned, func(e *wire.Event) { e.Ranges[1] = wire.CounterRange{Start: 149, Count: 2} }, "ranges[1]", "overlaps ranges[0]", ""},
		{"range overflow", wire.SerialsReturned, func(e *wire.Event) { e.Ranges[0] = wire.CounterRange{Start: math.MaxInt64, Count: 2} }, "ranges[0]", "overflows", ""},
		{"seq beyond 2^63-1", wire.Commissioned, func(e *wire.Event) { e.Seq = math.MaxInt64 + 1 }, "seq", "2^63-1", ""},
		{"allowance-extended needs allowance", wire.AllowanceExtended, func(e *wire.Event) { e.Allowance = 0 }, "allowance", "missing", ""},
		{"allowance-extended needs a reason", wire.AllowanceExtended, func(e *wire.Event) { e.Note = "  " }, "note", "missing", ""},
		{"allowance-extended needs the supervisor", wire.AllowanceExtended, func(e *wire.Event) { e.Operator = "" }, "operator", "missing", ""},
		{"allowance-extended note control char", wire.AllowanceExtended, func(e *wire.Event) { e.Note = "a\x00b" }, "note", "control character", ""},
		{"allowance only on allowance-extended", wire.Commissioned, func(e *wire.Event) { e.Allowance = 3 }, "allowance", "only allowance-extended", ""},
		{"note only on allowance-extended and voided", wire.OrderStarted, func(e *wire.Event) { e.Note = "why" }, "note", "only allowance-extended and voided", ""},
		{"voided note control char", wire.Voided, func(e *wire.Event) { e.Note = "a\tb" }, "note", "control character", ""},
		{"ranges only on serials-returned", wire.Voided, func(e *wire.Event) { e.Ranges = []wire.CounterRange{{Start: 1, Count: 1}} }, "ranges", "only serials-returned", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := validEvent(t, tc.typ, 9)
			require.NoError(t, e.Validate(), "fixture must be valid")
			tc.mutate(&e)
			err := e.Validate()
			require.Error(t, err)
			var fe *wire.FieldError
			require.True(t, errors.As(err, &fe), "want a *FieldError, got %T: %v", err, err)
			require.Equal(t, tc.field, fe.Field, err.Error())
			require.True(t, strings.HasPrefix(err.Error(), tc.field+": "), err.Error())
			require.Contains(t, err.Error(), tc.wantInErr)
			if tc.gs1Rule != "" {
				var ge *gs1.Error
				require.True(t, errors.As(err, &ge), "want a *gs1.Error inside: %v", err)
				require.Equal(t, tc.gs1Rule, ge.Rule)
			}
		})
	}
}

func TestEventValidateAcceptsOptional(t *testing.T) {
	e := validEvent(t, wire.Decommissioned, 2)
	e.Counter, e.Order, e.Lot, e.Expiry = nil, "", "", ""
	require.NoError(t, e.Validate(), "a decommissioning of a unit already commissioned needs only gtin, serial and reason")

	d := validEvent(t, wire.Disaggregated, 2)
	d.Children = nil
	require.NoError(t, d.Validate(), "disaggregating without children empties the container")

	c := validEvent(t, wire.Commissioned, 2)
	c.Expiry = "281200" // DD=00: end of month
	c.Serial = `!"%&'()*+,-./:;<=>?_`
	require.NoError(t, c.Validate())
}

func TestParseChild(t *testing.T) {
	s := testkit.SSCC(t, 1, "0614141", 99)
	tests := []struct {
		in   string
		want wire.Child
		err  string
	}{
		{wire.UnitRef(testGTIN, "A(1)"), wire.Child{GTIN: testGTIN, Serial: "A(1)"}, ""},
		{wire.SSCCRef(s), wire.Child{SSCC: s}, ""},
		{"(01)" + testGTIN, wire.Child{}, "neither"},
		{"(00)" + s + "(21)1", wire.Child{}, ""},
		{"", wire.Child{}, "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := wire.ParseChild(tc.in)
			if tc.err == "" && tc.want != (wire.Child{}) {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestReconciliation(t *testing.T) {
	tests := []struct {
		name     string
		r        wire.Reconciliation
		diff     int64
		balanced bool
	}{
		{"zero", wire.Reconciliation{}, 0, true},
		{"balanced", wire.Reconciliation{Granted: 100, Commissioned: 90, Decommissioned: map[wire.Reason]uint64{wire.ReasonNoRead: 3, wire.ReasonSample: 2}, Voided: 1, ReturnedUnused: 4}, 0, true},
		{"missing units", wire.Reconciliation{Granted: 100, Commissioned: 90}, 10, false},
		{"overused", wire.Reconciliation{Granted: 5, Commissioned: 5, Voided: 1}, -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.diff, tc.r.Difference())
			require.Equal(t, tc.balanced, tc.r.Balanced())
			require.Equal(t, uint64(int64(tc.r.Granted)-tc.diff), tc.r.Accounted())
		})
	}
	r := wire.Reconciliation{Decommissioned: map[wire.Reason]uint64{wire.ReasonDamaged: 2, wire.ReasonDestroyed: 3}}
	require.Equal(t, uint64(5), r.DecommissionedTotal())
}

func TestCounterRange(t *testing.T) {
	r := wire.CounterRange{Start: 10, Count: 5}
	require.Equal(t, uint64(15), r.End())
	for c, want := range map[uint64]bool{9: false, 10: true, 14: true, 15: false} {
		require.Equal(t, want, r.Contains(c), "counter %d", c)
	}
	require.False(t, wire.CounterRange{Start: 3}.Contains(3), "an empty range contains nothing")
}

func TestTypesAndReasonsVocabulary(t *testing.T) {
	require.Len(t, wire.EventTypes(), 9)
	for _, typ := range wire.EventTypes() {
		require.True(t, typ.Valid())
	}
	require.False(t, wire.EventType("rejected").Valid())
	require.Len(t, wire.Reasons(), 6)
	for _, r := range wire.Reasons() {
		require.True(t, r.Valid())
	}
	require.False(t, wire.Reason("").Valid())
}
