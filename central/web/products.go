package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/serials"
)

type productRow struct {
	P     master.Product
	Usage orders.SerialUsage
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
	P     master.Product
	Usage orders.SerialUsage
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
	Orders                 []orders.WorkOrder
	Import                 *form
	// Rules is the form of the product's order rules (reject allowance,
	// shelf life).
	Rules    *form
	Problems []serials.ListProblem
	Omitted  int
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
	if slices.Contains(d.P.Markets, master.MarketEUFMD) {
		if err := serials.CheckFMD(d.P.Scheme, d.P.PlannedVolume); err != nil {
			d.FMD = plain(err)
		} else {
			d.FMD, d.FMDOK = "Passes: the guess probability at the planned volume is below 1/10,000 (Delegated Regulation 2016/161 art. 4(c)).", true
		}
	}
	if d.Orders, err = h.deps.Store.Orders(ctx, orders.OrderFilter{GTIN: gtin}); err != nil {
		return d, err
	}
	d.Import = newForm(nil)
	d.Rules = newForm(nil).withLabels(productLabels)
	d.Rules.Values.Set("reject_allowance_percent", strconv.Itoa(*d.P.RejectAllowancePercent))
	d.Rules.Values.Set("reject_allowance_min", strconv.FormatUint(*d.P.RejectAllowanceMin, 10))
	d.Rules.Values.Set("min_shelf_life_days", strconv.Itoa(d.P.MinShelfLifeDays))
	return d, nil
}

// productLabels names the product forms' fields, in their order.
var productLabels = []fieldLabel{
	{"gtin", "GTIN (AI 01)"}, {"name", "Name"}, {"form", "Dosage form"}, {"strength", "Strength"}, {"pack_size", "Pack size"}, {"pack_unit", "Pack unit"},
	{"company_prefix_len", "GS1 Company Prefix length"}, {"min_grade", "Minimum print grade"},
	{"markets", "Markets"}, {"ndc", "NDC"}, {"planned_volume", "Planned volume"},
	{"scheme.kind", "Scheme kind"}, {"scheme.length", "Scheme length"}, {"scheme.alphabet", "Scheme alphabet"},
	{"scheme.start", "First serial"}, {"scheme.key", "Scheme key"}, {"scheme.sgtin96", "SGTIN-96-safe serials"},
	{"reject_allowance_percent", "Reject allowance (%)"}, {"reject_allowance_min", "Reject allowance at least"},
	{"min_shelf_life_days", "Minimum shelf life (days)"},
}

// ruleFields reads the order rules of a product form into p: an empty
// allowance field keeps the default (new product) or the stored value.
func ruleFields(f *form, p *master.Product) {
	if f.Get("reject_allowance_percent") != "" {
		p.RejectAllowancePercent = ptrTo(int(min(uintField(f, "reject_allowance_percent", false, 0), 1000)))
	}
	if f.Get("reject_allowance_min") != "" {
		p.RejectAllowanceMin = ptrTo(uintField(f, "reject_allowance_min", false, 0))
	}
	if f.Get("min_shelf_life_days") != "" {
		p.MinShelfLifeDays = int(min(uintField(f, "min_shelf_life_days", false, 0), 100_000))
	}
}

func ptrTo[T any](v T) *T { return &v }

// productProblems puts every rule p breaks next to its field (a scheme
// refusal next to the scheme field it names), besides what the form found.
func productProblems(f *form, p master.Product) {
	for _, pr := range p.Problems() {
		if pr.Field != "scheme" {
			f.SetError(pr.Field, pr.Rule)
			continue
		}
		field := schemeRuleField(pr.Rule)
		schemeErr := false
		for name := range f.Errors {
			schemeErr = schemeErr || strings.HasPrefix(name, "scheme.")
		}
		if !schemeErr {
			f.SetError(field, pr.Rule)
		}
	}
}

// updateRules changes a product's order rules (audited as a product
// update).
func (h *handler) updateRules(w http.ResponseWriter, r *http.Request) {
	gtin := r.PathValue("gtin")
	d, err := h.loadProduct(r, gtin)
	if err != nil {
		h.showProduct(w, r, 0, d, err)
		return
	}
	f := newForm(r.PostForm).withLabels(productLabels)
	p := d.P
	for _, name := range []string{"reject_allowance_percent", "reject_allowance_min", "min_shelf_life_days"} {
		required(f, name)
	}
	ruleFields(f, &p)
	productProblems(f, p)
	if f.Valid() {
		err := h.deps.Store.PutProduct(r.Context(), p)
		if err == nil {
			h.log.Info("product order rules saved", "gtin", gtin, "user", userName(r))
			http.Redirect(w, r, "/products/"+url.PathEscape(gtin)+"?ok=rules-saved", http.StatusSeeOther)
			return
		}
		if !storeError(f, err, "", "") {
			h.serverError(w, r, "save the order rules", err)
			return
		}
	}
	d.Rules = f
	h.showProduct(w, r, http.StatusUnprocessableEntity, d, nil)
}

func (h *handler) productPage(w http.ResponseWriter, r *http.Request) {
	d, err := h.loadProduct(r, r.PathValue("gtin"))
	h.showProduct(w, r, http.StatusOK, d, err)
}

func (h *handler) showProduct(w http.ResponseWriter, r *http.Request, status int, d productData, err error) {
	if errors.Is(err, sqldb.ErrNotFound) {
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
	f := newForm(nil).withLabels(productLabels)
	f.Values.Set("reject_allowance_percent", strconv.Itoa(master.DefaultRejectAllowancePercent))
	f.Values.Set("reject_allowance_min", strconv.Itoa(master.DefaultRejectAllowanceMin))
	f.Values.Set("min_shelf_life_days", "0")
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

// createProduct checks every field (the form's and the store's rules)
// before saving, so that the form reports all its errors at once.
func (h *handler) createProduct(w http.ResponseWriter, r *http.Request) {
	f := newForm(r.PostForm).withLabels(productLabels)
	p := master.Product{
		GTIN: required(f, "gtin"), Name: required(f, "name"), Form: f.Get("form"), Strength: f.Get("strength"),
		NDC: f.Get("ndc"), MinGrade: f.Get("min_grade"), PackUnit: f.Get("pack_unit"),
	}
	p.PackSize = int(min(uintField(f, "pack_size", false, 0), 1<<31-1))
	p.CompanyPrefixLen = int(min(uintField(f, "company_prefix_len", true, 0), 99))
	p.PlannedVolume = uintField(f, "planned_volume", false, 0)
	for _, m := range f.Values["markets"] {
		p.Markets = append(p.Markets, master.Market(m))
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
	ruleFields(f, &p)
	if err := p.Scheme.Validate(); err != nil {
		var se *serials.SpecError
		if errors.As(err, &se) {
			f.SetError(schemeField(se.Field), se.Rule)
		} else {
			f.SetError("scheme.kind", plain(err))
		}
	}
	productProblems(f, p)
	if p.GTIN != "" && f.Err("gtin") == "" {
		if _, err := h.deps.Store.Product(r.Context(), p.GTIN); err == nil {
			f.SetError("gtin", "A product with this GTIN exists already.")
		} else if !errors.Is(err, sqldb.ErrNotFound) {
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
		var ve *sqldb.ValidationError
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
