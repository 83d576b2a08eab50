package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// TestLookupAllForms: a unit is found by its code in each GS1 form, as a
// person types it or a scanner sends it.
func TestLookupAllForms(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.order("WO-1", gtinSeq, line1)
	u := e.grant("req-1", line1, "WO-1", gtinSeq, 3)
	com := u.ev(line1, 1, wire.Commissioned, 0)
	dec := u.ev(line1, 2, wire.Decommissioned, 0)
	dec.Reason, dec.Counter = wire.ReasonSample, nil
	e.apply(line1, com, dec)
	sn := u.serial[0]
	es := gs1.ElementString{{AI: "01", Value: gtinSeq}, {AI: "17", Value: expiry}, {AI: "10", Value: lot}, {AI: "21", Value: sn}}
	dl, err := es.DigitalLink("https://id.example.com")
	require.NoError(t, err)
	c := e.signedIn("olga", auth.RoleOperator)
	for _, tc := range []struct{ name, code string }{
		{"bracketed", es.Bracketed()},
		{"transmitted", es.Sorted().Transmitted()},
		{"transmitted with symbology id and CR", "]d2" + es.Sorted().Transmitted() + "\r\n"},
		{"digital link", dl},
		{"digital link on id.gs1.org", "https://id.gs1.org/01/" + gtinSeq + "/21/" + sn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.get("/lookup?code=" + url.QueryEscape(tc.code))
			require.Equal(t, http.StatusOK, r.status, r.body)
			require.Equal(t, "decommissioned", r.idText("unit-state"))
			require.Equal(t, "(sample)", r.idText("unit-reason"))
			require.Equal(t, "WO-1", r.idText("unit-order"))
			hist := findAll(r.doc, func(n *htmlNode) bool { return n.Data == "tr" && attr(n, "data-type") != "" })
			require.Len(t, hist, 2, "full history")
			require.Equal(t, "commissioned", attr(hist[0], "data-type"))
			require.Equal(t, "decommissioned", attr(hist[1], "data-type"))
			require.Empty(t, findAll(r.doc, func(n *htmlNode) bool { return attr(n, "data-testid") == "mismatch" }))
			// The field keeps the code for the next scan to replace.
			require.Equal(t, strings.TrimSpace(tc.code), attr(byID(r.doc, "f-code"), "value"))
		})
	}

	for _, tc := range []struct {
		name, code string
		status     int
		field      string
	}{
		{"check digit", "(01)09506000134353(21)X", http.StatusUnprocessableEntity, "check digit"},
		{"not gs1", "hello", http.StatusUnprocessableEntity, "Not a GS1 code"},
		{"no serial", "(01)" + gtinSeq + "(10)" + lot, http.StatusUnprocessableEntity, "no serial"},
		{"unknown serial", "(01)" + gtinSeq + "(21)NOPE", http.StatusNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.get("/lookup?code=" + url.QueryEscape(tc.code))
			require.Equal(t, tc.status, r.status, r.body)
			require.False(t, r.has("unit"))
			if tc.field != "" {
				require.Contains(t, r.fieldError("code"), tc.field)
			} else {
				require.Contains(t, r.idText("not-found"), "knows no unit")
			}
		})
	}

	t.Run("lot differs from central", func(t *testing.T) {
		r := c.get("/lookup?code=" + url.QueryEscape("(01)"+gtinSeq+"(10)OTHER(21)"+sn))
		require.Equal(t, http.StatusOK, r.status)
		m := findAll(r.doc, func(n *htmlNode) bool { return attr(n, "data-testid") == "mismatch" })
		require.Len(t, m, 1)
		require.Contains(t, text(m[0]), "lot OTHER")
	})

	r := c.get("/lookup")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "", attr(byID(r.doc, "f-code"), "aria-invalid"))
	_, autofocus := attrOK(byID(r.doc, "f-code"), "autofocus")
	require.True(t, autofocus, "a scanner types into the focused field")
}

func TestLookupContainer(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.order("WO-1", gtinSeq, line1)
	u := e.grant("req-1", line1, "WO-1", gtinSeq, 2)
	sscc := "106141411234567897"
	require.True(t, gs1.ValidCheckDigit(sscc))
	agg := wire.Event{ID: "L1:3", Seq: 3, Type: wire.Aggregated, At: t0, Order: "WO-1", Parent: sscc,
		Children: []string{wire.UnitRef(gtinSeq, u.serial[0]), wire.UnitRef(gtinSeq, u.serial[1])}}
	res := e.apply(line1, u.ev(line1, 1, wire.Commissioned, 0), u.ev(line1, 2, wire.Commissioned, 1), agg)
	require.Empty(t, res.Rejected)
	c := e.signedIn("olga", auth.RoleOperator)
	r := c.get("/lookup?code=" + url.QueryEscape("(00)"+sscc))
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Contains(t, r.idText("container"), "Units 2")
	r = c.get("/lookup?code=" + url.QueryEscape("(01)"+gtinSeq+"(21)"+u.serial[0]))
	require.Contains(t, r.idText("unit"), sscc, "the unit names its case")
}

func attrOK(n *htmlNode, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}
