package web_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/shared/serials"
)

func fmdProduct() url.Values {
	return url.Values{
		"gtin": {gtinRand}, "name": {"Amoxicillin 500 mg"}, "company_prefix_len": {"7"}, "pack_size": {"16"},
		"markets": {"eu-fmd"}, "planned_volume": {"1000000"}, "min_grade": {"C"},
		"scheme.kind": {"randomized"}, "scheme.length": {"12"}, "scheme.alphabet": {"numeric"},
	}
}

// TestCreateProductBadInput: each mistake is shown next to its field and
// nothing is written.
func TestCreateProductBadInput(t *testing.T) {
	e := newEnv(t)
	e.seed()
	c := e.signedIn("alice", auth.RolePlanner)
	for _, tc := range []struct {
		name  string
		edit  func(url.Values)
		field string
		want  string
	}{
		{"gtin check digit", func(f url.Values) { f.Set("gtin", "09506000134360") }, "gtin", "check digit"},
		{"gtin exists", func(f url.Values) { f.Set("gtin", gtinSeq) }, "gtin", "exists already"},
		{"name missing", func(f url.Values) { f.Del("name") }, "name", "Missing"},
		{"prefix length", func(f url.Values) { f.Set("company_prefix_len", "4") }, "company_prefix_len", "6 to 12"},
		{"no market", func(f url.Values) { f.Del("markets") }, "markets", "missing"},
		{"us without ndc", func(f url.Values) { f.Set("markets", "us-dscsa") }, "ndc", "NDC"},
		{"bad ndc", func(f url.Values) { f.Set("ndc", "12-AB") }, "ndc", "4-4-2, 5-3-2 or 5-4-1"},
		{"gtin without the ndc", func(f url.Values) { f.Set("markets", "us-dscsa"); f.Set("ndc", "12345-678-99") }, "gtin", "does not embed ndc 12345-678-99"},
		{"fmd without volume", func(f url.Values) { f.Del("planned_volume") }, "planned_volume", "missing"},
		{"fmd sequential", func(f url.Values) { f.Set("scheme.kind", "sequential"); f.Set("scheme.start", "1") }, "scheme.kind", "guessable"},
		{"fmd too short", func(f url.Values) { f.Set("scheme.length", "8") }, "scheme.length", "1/10,000"},
		{"length too long", func(f url.Values) { f.Set("scheme.length", "21") }, "scheme.length", ""},
		{"unknown kind", func(f url.Values) { f.Set("scheme.kind", "dice") }, "scheme.kind", "dice"},
		{"short key", func(f url.Values) { f.Set("scheme.key", "abcd") }, "scheme.key", ""},
		{"volume words", func(f url.Values) { f.Set("planned_volume", "lots") }, "planned_volume", "whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fmdProduct()
			tc.edit(f)
			r := c.post("/products", f, true)
			require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
			errs := r.fieldErrors()
			require.Contains(t, errs, tc.field, "%v", errs)
			require.Contains(t, errs[tc.field], tc.want)
			require.NotContains(t, r.body, "abcd", "a key is not written back into the page")
			ps, err := e.s.Products(e.ctx)
			require.NoError(t, err)
			require.Len(t, ps, 2, "nothing written")
		})
	}
}

func TestCreateProductShowsGuessProbability(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn("alice", auth.RolePlanner)
	r := c.post("/products", fmdProduct(), true)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	require.Equal(t, "/products/"+gtinRand+"?ok=product-created", r.header.Get("Location"))

	p, err := e.s.Product(e.ctx, gtinRand)
	require.NoError(t, err)
	require.Equal(t, serials.KindRandomized, p.Scheme.Kind)
	require.Len(t, p.Scheme.Key, 64, "a 256-bit key was generated")

	r = c.get(r.header.Get("Location"))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "Product created.", r.idText("notice"))
	require.Equal(t, "randomized", r.idText("scheme-kind"))
	// 10^6 of 10^12 serials: 1 in 1,000,000.
	require.Contains(t, r.idText("guess-planned"), "1 in 1,000,000")
	require.Equal(t, "0", r.idText("guess-now"))
	require.Contains(t, r.idText("fmd-check"), "Passes")
	require.NotContains(t, r.body, p.Scheme.Key, "the key is never shown")

	list := c.get("/products")
	row := findAll(list.doc, func(n *htmlNode) bool { return attr(n, "data-gtin") == gtinRand })
	require.Len(t, row, 1)
	require.Contains(t, text(row[0]), "1 in 1,000,000")
	require.Contains(t, text(row[0]), "0 of 1,000,000,000,000")

	entries, err := e.s.Audit(e.ctx, audit.Filter{Entity: "product", EntityID: gtinRand})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Contains(t, entries[0].Actor, "alice (planner")
}

// upload posts a serial list file as a browser does.
func (c *client) upload(path, filename, content string) response {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(c.t, mw.WriteField(auth.CSRFField, c.csrf()))
	fw, err := mw.CreateFormFile("file", filename)
	require.NoError(c.t, err)
	_, err = fw.Write([]byte(content))
	require.NoError(c.t, err)
	require.NoError(c.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, c.e.srv.URL+path, &body)
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

// TestImportSerials: a list with problems is refused whole, each problem
// listed by line; a good one is imported.
func TestImportSerials(t *testing.T) {
	e := newEnv(t)
	e.seed()
	c := e.signedIn("alice", auth.RolePlanner)
	path := "/products/" + gtinList + "/serials"
	usage := func() orders.SerialUsage {
		u, err := e.s.SerialUsage(e.ctx, gtinList)
		require.NoError(t, err)
		return u
	}

	bad := "serial,gtin\n12345678," + gtinList + "\n1234567," + gtinList + "\n12345678," + gtinList + "\n1234567X," + gtinList + "\n87654321,00312345678906\n"
	r := c.upload(path, "bad.csv", bad)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
	require.Contains(t, r.idText("form-problem"), "Nothing was imported")
	byLine := map[string]string{}
	for _, tr := range findAll(r.doc, func(n *htmlNode) bool { return n.Data == "tr" && attr(n, "data-line") != "" }) {
		byLine[attr(tr, "data-line")] = text(tr)
	}
	require.Len(t, byLine, 4, "%v", byLine)
	require.Contains(t, byLine["3"], "1234567")
	require.Contains(t, byLine["4"], "first on line 2", "a duplicate names the first occurrence")
	require.Contains(t, byLine["5"], "1234567X")
	require.Contains(t, byLine["6"], "gtin")
	require.Zero(t, usage().Space, "nothing imported")

	r = c.upload(path, "empty.csv", "")
	require.Equal(t, http.StatusUnprocessableEntity, r.status)
	require.Contains(t, r.fieldError("file"), "Choose a CSV file")

	r = c.upload(path, "good.csv", "serial\n10000001\n10000002\n10000003\n")
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	require.Equal(t, uint64(3), usage().Space)

	// Pasted, one of them already listed: refused whole.
	r = c.post(path, url.Values{"serials": {"10000004\n10000002\n"}}, true)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
	require.Contains(t, r.idText("form-problem"), `"10000002" is already listed`)
	require.Equal(t, "10000004\n10000002", byID(r.doc, "f-serials").FirstChild.Data, "the pasted text is kept")
	require.Equal(t, uint64(3), usage().Space)

	r = c.post("/products/"+gtinSeq+"/serials", url.Values{"serials": {"10000004\n"}}, true)
	require.Equal(t, http.StatusUnprocessableEntity, r.status)
	require.Contains(t, r.idText("page-problem"), "only list-scheme products")

	r = c.get("/products/" + gtinList)
	require.Contains(t, r.idText("serials-granted"), "0 of 3")
}

func TestOversizeUploadRefused(t *testing.T) {
	e := newEnv(t)
	e.seed()
	c := e.signedIn("alice", auth.RolePlanner)
	big := strings.Repeat("x", 2<<20)
	r := c.post("/orders", url.Values{"id": {big}}, false)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.status)
	require.Contains(t, r.idText("problem-text"), "1 MB")
}
