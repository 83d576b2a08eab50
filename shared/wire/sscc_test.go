package wire_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
	"github.com/serialine/serialine/shared/wire"
)

func ssccRequest() wire.SerialRequest {
	return wire.SerialRequest{V: 1, RequestID: "L1-sscc-1", Line: testLine, Kind: wire.RequestSSCC, Order: testOrder,
		Count: 500, SSCC: &wire.SSCCPrefix{CompanyPrefix: "0614141", Extension: 3}}
}

func ssccGrant() wire.SerialGrant {
	return wire.SerialGrant{V: 1, RequestID: "L1-sscc-1", Line: testLine, Kind: wire.RequestSSCC,
		SSCC: &wire.SSCCPrefix{CompanyPrefix: "0614141", Extension: 3}, Ranges: []wire.CounterRange{{Start: 1000, Count: 500}}}
}

func TestSSCCPrefix(t *testing.T) {
	tests := []struct {
		cp     string
		digits int
		space  uint64
	}{
		{"061414", 10, 10_000_000_000},
		{"0614141", 9, 1_000_000_000},
		{"061414112345", 4, 10_000},
	}
	for _, tc := range tests {
		t.Run(tc.cp, func(t *testing.T) {
			p := wire.SSCCPrefix{CompanyPrefix: tc.cp, Extension: 1}
			require.NoError(t, p.Validate())
			require.Equal(t, tc.digits, p.RefDigits())
			require.Equal(t, tc.space, p.Space())
			last, err := p.SSCC(p.Space() - 1)
			require.NoError(t, err, "the last serial reference fits")
			_, err = gs1.ParseSSCC(string(last))
			require.NoError(t, err)
			_, err = p.SSCC(p.Space())
			require.Error(t, err, "one past the space does not")
		})
	}
	// The GS1 General Specifications' example SSCC.
	s, err := wire.SSCCPrefix{CompanyPrefix: "0614141", Extension: 1}.SSCC(234567890)
	require.NoError(t, err)
	require.Equal(t, gs1.SSCC("106141412345678908"), s)
}

func TestSSCCRequest(t *testing.T) {
	r := ssccRequest()
	data, err := wire.Encode(r)
	require.NoError(t, err)
	require.Contains(t, string(data), `"kind":"sscc"`)
	require.Contains(t, string(data), `"sscc":{"company_prefix":"0614141","extension":3}`)
	require.NotContains(t, string(data), `"gtin"`)
	got, err := wire.DecodeSerialRequest(data)
	require.NoError(t, err)
	require.Equal(t, r, got)

	r.Order = ""
	require.NoError(t, r.Validate(), "the order is optional for SSCCs")

	tests := []struct {
		name   string
		mutate func(*wire.SerialRequest)
		want   string
	}{
		{"kind unknown", func(r *wire.SerialRequest) { r.Kind = "pallets" }, `kind: "pallets" is not a request kind`},
		{"prefix missing", func(r *wire.SerialRequest) { r.SSCC = nil }, "sscc: missing"},
		{"prefix short", func(r *wire.SerialRequest) { r.SSCC.CompanyPrefix = "12345" }, "sscc.company_prefix: AI (00)"},
		{"prefix long", func(r *wire.SerialRequest) { r.SSCC.CompanyPrefix = "1234567890123" }, "6 to 12 digits here, got 13"},
		{"prefix letters", func(r *wire.SerialRequest) { r.SSCC.CompanyPrefix = "06141A1" }, "sscc.company_prefix: AI (00)"},
		{"prefix empty", func(r *wire.SerialRequest) { r.SSCC.CompanyPrefix = "" }, "sscc.company_prefix: missing"},
		{"extension", func(r *wire.SerialRequest) { r.SSCC.Extension = 10 }, "sscc.extension: AI (00)"},
		{"gtin", func(r *wire.SerialRequest) { r.GTIN = testGTIN }, "gtin: an sscc request is for no GTIN"},
		{"count", func(r *wire.SerialRequest) { r.Count = 0 }, "count: must be at least 1"},
		{"count beyond space", func(r *wire.SerialRequest) { r.SSCC.CompanyPrefix = "061414112345"; r.Count = 10_001 }, "count: 10001 exceeds the 10000 serial references"},
		{"prefix on serials", func(r *wire.SerialRequest) { r.Kind = ""; r.GTIN = testGTIN }, "sscc: only sscc requests"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ssccRequest()
			p := *r.SSCC
			r.SSCC = &p
			tc.mutate(&r)
			err := r.Validate()
			require.ErrorContains(t, err, tc.want)
			var fe *wire.FieldError
			require.True(t, errors.As(err, &fe), "%T", err)
		})
	}
}

func TestSSCCRequestOldShapeStillSerials(t *testing.T) {
	// A request from an edge built before kinds existed is a serials request.
	old := `{"v":1,"request_id":"r1","line":"L1","order":"WO-1","gtin":"09506000134352","count":5}`
	r, err := wire.DecodeSerialRequest([]byte(old))
	require.NoError(t, err)
	require.Equal(t, wire.RequestKind(""), r.Kind)
	require.False(t, r.Kind.IsSSCC())
	data, err := wire.Encode(r)
	require.NoError(t, err)
	require.JSONEq(t, old, string(data), "serials requests keep their shape")
}

func TestSSCCGrant(t *testing.T) {
	g := ssccGrant()
	data, err := wire.Encode(g)
	require.NoError(t, err)
	got, err := wire.DecodeSerialGrant(data)
	require.NoError(t, err)
	require.Equal(t, g, got)
	require.Equal(t, uint64(500), got.Count())

	refusal := wire.SerialGrant{V: 1, RequestID: "r", Line: testLine, Kind: wire.RequestSSCC,
		SSCC: &wire.SSCCPrefix{CompanyPrefix: "0614141"}, Error: "company prefix 0614141 is not one of central's products"}
	_, err = wire.Encode(refusal)
	require.NoError(t, err)

	tests := []struct {
		name   string
		mutate func(*wire.SerialGrant)
		want   string
	}{
		{"prefix missing", func(g *wire.SerialGrant) { g.SSCC = nil }, "sscc: missing"},
		{"prefix bad", func(g *wire.SerialGrant) { g.SSCC.Extension = -1 }, "sscc.extension: "},
		{"ranges missing", func(g *wire.SerialGrant) { g.Ranges = nil }, "ranges: missing"},
		{"ranges overlap", func(g *wire.SerialGrant) {
			g.Ranges = append(g.Ranges, wire.CounterRange{Start: 1499, Count: 2})
		}, "ranges[1]: [1499, 1501) overlaps ranges[0]"},
		{"beyond the space", func(g *wire.SerialGrant) { g.Ranges[0] = wire.CounterRange{Start: 999_999_999, Count: 2} }, "ranges[0]: [999999999, 1000000001) is beyond the 1000000000 serial references"},
		{"scheme", func(g *wire.SerialGrant) { g.Scheme = &serials.Spec{Kind: serials.KindSequential, Length: 9} }, "scheme: an sscc grant carries serial reference ranges only"},
		{"gtin", func(g *wire.SerialGrant) { g.GTIN = testGTIN }, "gtin: an sscc grant is for no GTIN"},
		{"refusal with ranges", func(g *wire.SerialGrant) { g.Error = "no" }, "error: a refused grant carries no"},
		{"prefix on serials grant", func(g *wire.SerialGrant) { g.Kind = "" }, "sscc: only sscc grants"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := ssccGrant()
			p := *g.SSCC
			g.SSCC = &p
			g.Ranges = append([]wire.CounterRange(nil), g.Ranges...)
			tc.mutate(&g)
			require.ErrorContains(t, g.Validate(), tc.want)
		})
	}
}

func TestSSCCGrantJSONShape(t *testing.T) {
	data, err := json.Marshal(ssccGrant())
	require.NoError(t, err)
	require.JSONEq(t, `{"v":1,"request_id":"L1-sscc-1","line":"L1","kind":"sscc",
		"sscc":{"company_prefix":"0614141","extension":3},"ranges":[{"start":1000,"count":500}]}`, string(data))
}
