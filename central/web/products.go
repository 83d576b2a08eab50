package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/shared/serials"
)

type productRow struct {
	P     store.Product
	Usage store.SerialUsage
	// Guess is the guess probability at the planned volume (randomized
	// schemes with a planned volume), else 0.
	Guess float64
}

func (h *handler) productsPage(w http.ResponseWriter, r *http.Request) {
	ps, err := h.deps.Store.Products(r.Context())
	if err != nil {
		h.serverError(w, r, "list the products", err)
		return
	}
	rows := make([]productRow, 0, len(ps))
	for _, p := range ps {
		u, err := h.deps.Store.SerialUsage(r.Context(), p.GTIN)
		if err != nil {
			h.serverError(w, r, "read the serial usage of "+p.GTIN, err)
			return
		}
		row := productRow{P: p, Usage: u}
		if p.Scheme.Kind == serials.KindRandomized && p.PlannedVolume > 0 {
			row.Guess = serials.GuessProbability(p.PlannedVolume, u.Space)
		}
		rows = append(rows, row)
	}
	h.render(w, r, http.StatusOK, "products", "Products", "products", rows)
}

type productData struct {
	P     store.Product
	Usage store.SerialUsage
	// Remaining is how many serials the scheme (or list) still offers.
	Remaining uint64
	// UsedPct is the share of the space granted, in percent.
	UsedPct float64
	// Randomized schemes: the guess probability at the planned volume and
	// with what has been granted so far; FMD says whether the planned
	// volume passes EU FMD's 1/10,000 (empty when not eu-fmd).
	GuessPlanned, GuessNow float64
	FMD                    string
	FMDOK                  bool
	Orders                 []store.WorkOrder
	Import                 *form
	Problems               []serials.ListProblem
	Omitted                int
	// Problem is a refusal shown at the top of the page.
	Problem string
}

func (h *handler) loadProduct(r *http.Request, gtin string) (productData, error) {
	var d productData
	var err error
	ctx := r.Context()
	if d.P, err = h.deps.Store.Product(ctx, gtin); err != nil {
		return d, err
	}
	if d.Usage, err = h.deps.Store.SerialUsage(ctx, gtin); err != nil {
		return d, err
	}
	if d.Usage.Space > d.Usage.Granted {
		d.Remaining = d.Usage.Space - d.Usage.Granted
	}
	if d.Usage.Space > 0 {
		d.UsedPct = 100 * float64(d.Usage.Granted) / float64(d.Usage.Space)
	}
	if d.P.Scheme.Kind == serials.KindRandomized {
		d.GuessNow = serials.GuessProbability(d.Usage.Granted, d.Usage.Space)
		if d.P.PlannedVolume > 0 {
			d.GuessPlanned = serials.GuessProbability(d.P.PlannedVolume, d.Usage.Space)
		}
	}
	if slices.Contains(d.P.Markets, store.MarketEUFMD) {
		if err := serials.CheckFMD(d.P.Scheme, d.P.PlannedVolume); err != nil {
			d.FMD = plain(err)
		} else {
			d.FMD, d.FMDOK = "Passes: the guess probability at the planned volume is below 1/10,000 (Delegated Regulation 2016/161 art. 4(c)).", true
		}
	}
	if d.Orders, err = h.deps.Store.Orders(ctx, store.OrderFilter{GTIN: gtin}); err != nil {
		return d, err
	}
	d.Import = newForm(nil)
	return d, nil
}

func (h *handler) productPage(w http.ResponseWriter, r *http.Request) {
	d, err := h.loadProduct(r, r.PathValue("gtin"))
	h.showProduct(w, r, http.StatusOK, d, err)
}

func (h *handler) showProduct(w http.ResponseWriter, r *http.Request, status int, d productData, err error) {
	if errors.Is(err, store.ErrNotFound) {
		h.fail(w, r, http.StatusNotFound, "No such product", "There is no product with GTIN "+r.PathValue("gtin")+".")
		return
	}
	if err != nil {
		h.serverError(w, r, "load the product", err)
		return
	}
	h.render(w, r, status, "product", "Product "+d.P.GTIN, "products", d)
}

type newProductData struct {
	Form      *form
	Kinds     []option
	Alphabets []option
	Grades    []option
}

func (h *handler) newProductPage(w http.ResponseWriter, r *http.Request) {
	f := newForm(nil)
	f.Values.Set("company_prefix_len", "7")
	f.Values.Set("scheme.kind", string(serials.KindRandomized))
	f.Values.Set("scheme.length", "12")
	f.Values.Set("scheme.alphabet", serials.AlphabetNumeric)
	h.showNewProduct(w, r, http.StatusOK, f)
}

func (h *handler) showNewProduct(w http.ResponseWriter, r *http.Request, status int, f *form) {
	f.Values.Del("scheme.key") // a secret is never written back into a page
	h.render(w, r, status, "product-new", "New product", "products", newProductData{
		Form: f,
		Kinds: []option{
			{string(serials.KindRandomized), "randomized (EU FMD)"},
			{string(serials.KindSequential), "sequential"},
			{string(serials.KindList), "imported list"},
		},
		Alphabets: []option{{serials.AlphabetNumeric, "numeric (0-9)"}, {serials.AlphabetAlphanumeric, "alphanumeric (0-9, A-Z)"}},
		Grades:    []option{{"", "none"}, {"A", "A"}, {"B", "B"}, {"C", "C"}, {"D", "D"}},
	})
}

func (h *handler) createProduct(w http.ResponseWriter, r *http.Request) {
	f := newForm(r.PostForm)
	p := store.Product{
		GTIN: required(f, "gtin"), Name: required(f, "name"), Form: f.Get("form"), Strength: f.Get("strength"),
		NDC: f.Get("ndc"), MinGrade: f.Get("min_grade"),
	}
	p.PackSize = int(min(uintField(f, "pack_size", false, 0), 1<<31-1))
	p.CompanyPrefixLen = int(min(uintField(f, "company_prefix_len", true, 0), 99))
	p.PlannedVolume = uintField(f, "planned_volume", false, 0)
	for _, m := range f.Values["markets"] {
		p.Markets = append(p.Markets, store.Market(m))
	}
	p.Scheme = serials.Spec{
		Kind: serials.Kind(f.Get("scheme.kind")), Alphabet: f.Get("scheme.alphabet"),
		Key: f.Get("scheme.key"), SGTIN96: f.Get("scheme.sgtin96") == "yes",
	}
	p.Scheme.Length = int(min(uintField(f, "scheme.length", false, 0), 99))
	if p.Scheme.Kind == serials.KindSequential {
		p.Scheme.Start = uintField(f, "scheme.start", false, 0)
		p.Scheme.Alphabet = "" // sequential serials are numeric
	}
	if p.Scheme.Kind == serials.KindRandomized && p.Scheme.Key == "" {
		var k [32]byte
		_, _ = rand.Read(k[:])
		p.Scheme.Key = hex.EncodeToString(k[:])
	}
	if p.Scheme.Kind != serials.KindRandomized {
		p.Scheme.Key = ""
	}
	if f.Valid() {
		if err := p.Scheme.Validate(); err != nil {
			var se *serials.SpecError
			if errors.As(err, &se) {
				f.SetError(schemeField(se.Field), se.Rule)
			} else {
				f.SetError("scheme.kind", plain(err))
			}
		}
	}
	if f.Valid() {
		if _, err := h.deps.Store.Product(r.Context(), p.GTIN); err == nil {
			f.SetError("gtin", "A product with this GTIN exists already.")
		} else if !errors.Is(err, store.ErrNotFound) {
			h.serverError(w, r, "look up the product", err)
			return
		}
	}
	if f.Valid() {
		err := h.deps.Store.PutProduct(r.Context(), p)
		if err == nil {
			h.log.Info("product created", "gtin", p.GTIN, "user", userName(r))
			http.Redirect(w, r, "/products/"+url.PathEscape(p.GTIN)+"?ok=product-created", http.StatusSeeOther)
			return
		}
		var ve *store.ValidationError
		if errors.As(err, &ve) && ve.Field == "scheme" {
			f.SetError(schemeRuleField(ve.Rule), ve.Rule)
		} else if !storeError(f, err, "", "gtin") {
			h.serverError(w, r, "create the product", err)
			return
		}
	}
	h.showNewProduct(w, r, http.StatusUnprocessableEntity, f)
}

// schemeField maps a serials.Spec field to its form field.
func schemeField(specField string) string {
	switch specField {
	case "kind", "length", "alphabet", "start", "key", "sgtin96":
		return "scheme." + specField
	}
	return "scheme.kind"
}

// schemeRuleField finds the form field of a scheme refusal from
// serials.CheckFMD ("serial scheme: length: …").
func schemeRuleField(rule string) string {
	for _, f := range []string{"length", "alphabet", "start", "key", "sgtin96", "kind"} {
		if strings.HasPrefix(rule, "serial scheme: "+f+":") || strings.HasPrefix(rule, f+":") {
			return "scheme." + f
		}
	}
	return "scheme.kind"
}

func (h *handler) importSerials(w http.ResponseWriter, r *http.Request) {
	gtin := r.PathValue("gtin")
	d, err := h.loadProduct(r, gtin)
	if err != nil {
		h.showProduct(w, r, 0, d, err)
		return
	}
	f := newForm(r.PostForm)
	d.Import = f
	src, name, err := listSource(r)
	if src != nil {
		defer src.Close()
	}
	switch {
	case err != nil:
		f.SetError("file", "The file could not be read: "+err.Error())
	case src == nil:
		f.SetError("file", "Choose a CSV file, or paste the serials.")
	case d.P.Scheme.Kind != serials.KindList:
		d.Problem = "Nothing was imported: product " + gtin + " uses a " + string(d.P.Scheme.Kind) + " scheme; only list-scheme products take imported serials."
	}
	if f.Valid() && d.Problem == "" {
		list, err := serials.ParseList(src, d.P.Scheme.ListSpec(gtin))
		var le *serials.ListError
		switch {
		case errors.As(err, &le):
			d.Problems, d.Omitted = le.Problems, le.Omitted
			f.Problem = "Nothing was imported: " + name + " has " + problemCount(len(le.Problems)+le.Omitted) + ", listed below by line."
		case err != nil:
			f.Problem = "Nothing was imported: " + plain(err)
		default:
			size, err := h.deps.Store.ImportSerialList(r.Context(), gtin, list)
			if err == nil {
				h.log.Info("serial list imported", "gtin", gtin, "serials", len(list), "list_size", size, "user", userName(r))
				http.Redirect(w, r, "/products/"+url.PathEscape(gtin)+"?ok=serials-imported", http.StatusSeeOther)
				return
			}
			if !storeError(f, err, "", "") {
				h.serverError(w, r, "import the serial list", err)
				return
			}
			if f.Problem == "" {
				f.Problem = "Nothing was imported."
			} else {
				f.Problem = "Nothing was imported: " + f.Problem
			}
		}
	}
	h.showProduct(w, r, http.StatusUnprocessableEntity, d, nil)
}

func problemCount(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return formatCount(n) + " problems"
}

// listSource is the uploaded file, or else the pasted text.
func listSource(r *http.Request) (io.ReadCloser, string, error) {
	if r.MultipartForm != nil {
		if fhs := r.MultipartForm.File["file"]; len(fhs) > 0 && fhs[0].Size > 0 {
			f, err := fhs[0].Open()
			return f, fhs[0].Filename, err
		}
	}
	if text := r.PostForm.Get("serials"); strings.TrimSpace(text) != "" {
		return io.NopCloser(strings.NewReader(text)), "the pasted list", nil
	}
	return nil, "", nil
}
