package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/serials"
)

func (a *api) me(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.PrincipalFrom(r.Context())
	httpjson.Write(w, http.StatusOK, struct {
		auth.Principal
		Permissions []auth.Permission `json:"permissions"`
	}{p, auth.PermissionsOf(p.Role)})
	return nil
}

// productIn is the body of PUT /products/{gtin}.
type productIn struct {
	GTIN             string            `json:"gtin"`
	Name             string            `json:"name"`
	Form             string            `json:"form"`
	Strength         string            `json:"strength"`
	PackSize         int               `json:"pack_size"`
	PackUnit         string            `json:"pack_unit"`
	CompanyPrefixLen int               `json:"company_prefix_len"`
	NDC              string            `json:"ndc"`
	National         map[string]string `json:"national"`
	Markets          []master.Market   `json:"markets"`
	Scheme           serials.Spec      `json:"scheme"`
	PlannedVolume    uint64            `json:"planned_volume"`
	StandardCost     int64             `json:"standard_cost"`
	Currency         string            `json:"currency"`
	MinGrade         string            `json:"min_grade"`
	// The order-governance fields: left out, a new product gets the
	// defaults (5 %, 50 units, 0 days) and an update keeps what is stored.
	RejectAllowancePercent *int    `json:"reject_allowance_percent"`
	RejectAllowanceMin     *uint64 `json:"reject_allowance_min"`
	MinShelfLifeDays       *int    `json:"min_shelf_life_days"`
}

// schemeOut is a serial scheme as the API shows it: the key of a
// randomized scheme is a secret, so only a fingerprint of it is shown.
type schemeOut struct {
	Kind           serials.Kind `json:"kind"`
	Length         int          `json:"length"`
	Alphabet       string       `json:"alphabet,omitempty"`
	Start          uint64       `json:"start,omitempty"`
	SGTIN96        bool         `json:"sgtin96"`
	KeySet         bool         `json:"key_set"`
	KeyFingerprint string       `json:"key_fingerprint,omitempty"`
}

func newSchemeOut(s serials.Spec) schemeOut {
	o := schemeOut{Kind: s.Kind, Length: s.Length, Alphabet: s.Alphabet, Start: s.Start, SGTIN96: s.SGTIN96, KeySet: s.Key != ""}
	if s.Key != "" {
		o.KeyFingerprint = keyFingerprint(s.Key)
	}
	return o
}

// keyFingerprint identifies a key without revealing it (the same form as
// the store's audit trail).
func keyFingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// fmdOut is the EU FMD assessment of a product's scheme against its
// planned volume (Delegated Regulation 2016/161 art. 4).
type fmdOut struct {
	// Required: the product is sold under EU FMD.
	Required      bool   `json:"required"`
	PlannedVolume uint64 `json:"planned_volume"`
	// SerialSpace is how many serials the scheme can write (a float: it
	// may exceed 2^64); 0 when unbounded (a list of any length).
	SerialSpace float64 `json:"serial_space"`
	// GuessProbability is planned volume ÷ serial space: the chance that a
	// guessed serial is one in use.
	GuessProbability float64 `json:"guess_probability"`
	Limit            float64 `json:"limit"`
	Compliant        bool    `json:"compliant"`
	Problem          string  `json:"problem,omitempty"`
}

// fmdLimit is the EU FMD bound on the guess probability.
const fmdLimit = 1.0 / 10_000

func assessFMD(p master.Product) *fmdOut {
	required := slices.Contains(p.Markets, master.MarketEUFMD)
	if !required && p.PlannedVolume == 0 {
		return nil
	}
	f := &fmdOut{Required: required, PlannedVolume: p.PlannedVolume, Limit: fmdLimit}
	if space, ok := serialSpace(p.Scheme); ok {
		f.SerialSpace = space
		f.GuessProbability = float64(p.PlannedVolume) / space
	}
	if p.PlannedVolume == 0 {
		f.Problem = "planned_volume is missing"
		return f
	}
	if err := serials.CheckFMD(p.Scheme, p.PlannedVolume); err != nil {
		f.Problem = err.Error()
		return f
	}
	f.Compliant = true
	return f
}

// serialSpace is the number of distinct serials a scheme can write:
// alphabet^length, or the SGTIN-96-safe numbers of that length. A list of
// any length is unbounded (false).
func serialSpace(s serials.Spec) (float64, bool) {
	if s.Length == 0 {
		return 0, false
	}
	if s.SGTIN96 {
		lo := 0.0
		if s.Length > 1 {
			lo = math.Pow10(s.Length - 1)
		}
		return min(math.Pow10(s.Length), float64(gs1.MaxSGTIN96Serial)+1) - lo, true
	}
	radix := float64(len(s.Alphabet))
	switch s.Alphabet {
	case "", serials.AlphabetNumeric:
		radix = 10
		if s.Alphabet == "" && s.Kind == serials.KindList {
			radix = 82 // any CSET 82 character
		}
	case serials.AlphabetAlphanumeric:
		radix = 36
	}
	return math.Pow(radix, float64(s.Length)), true
}

// poolOut is the allocation state of a product's serials.
type poolOut struct {
	GTIN string       `json:"gtin"`
	Kind serials.Kind `json:"kind"`
	// Granted counts the serials handed to lines so far (the allocation
	// high-water mark: used, voided, returned or still in a line's pool).
	Granted uint64 `json:"granted"`
	// Capacity is how many serials the scheme (or the imported list) offers.
	Capacity     uint64  `json:"capacity"`
	Remaining    uint64  `json:"remaining"`
	UsedFraction float64 `json:"used_fraction"`
	SerialSpace  float64 `json:"serial_space,omitempty"`
	// GuessProbability is granted ÷ serial space, the chance that a guessed
	// serial is one handed out; 1 for a sequential scheme (each serial
	// follows from the last); null when the space is unbounded.
	GuessProbability *float64 `json:"guess_probability"`
	// FMDLimitExceeded: an EU FMD product whose guess probability is not
	// below 1/10,000.
	FMDLimitExceeded bool `json:"fmd_limit_exceeded"`
}

func newPoolOut(p master.Product, u orders.SerialUsage) poolOut {
	o := poolOut{GTIN: p.GTIN, Kind: p.Scheme.Kind, Granted: u.Granted, Capacity: u.Space}
	if u.Space > u.Granted {
		o.Remaining = u.Space - u.Granted
	}
	if u.Space > 0 {
		o.UsedFraction = float64(u.Granted) / float64(u.Space)
	}
	if space, ok := serialSpace(p.Scheme); ok {
		o.SerialSpace = space
		g := float64(u.Granted) / space
		if p.Scheme.Kind == serials.KindSequential {
			g = 1
		}
		o.GuessProbability = &g
		o.FMDLimitExceeded = slices.Contains(p.Markets, master.MarketEUFMD) && g >= fmdLimit
	}
	return o
}

// productOut is a product as the API shows it.
type productOut struct {
	master.Product
	Scheme  schemeOut `json:"scheme"` // shadows the embedded scheme: no key
	FMD     *fmdOut   `json:"fmd,omitempty"`
	Serials *poolOut  `json:"serials,omitempty"`
}

func newProductOut(p master.Product) productOut {
	return productOut{Product: p, Scheme: newSchemeOut(p.Scheme), FMD: assessFMD(p)}
}

func (a *api) listProducts(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.Store.Products(r.Context())
	if err != nil {
		return err
	}
	out := make([]productOut, 0, len(ps))
	for _, p := range ps {
		out = append(out, newProductOut(p))
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"products": out})
	return nil
}

func (a *api) getProduct(w http.ResponseWriter, r *http.Request) error {
	gtin, err := gtinParam(r)
	if err != nil {
		return err
	}
	p, err := a.Store.Product(r.Context(), gtin)
	if err != nil {
		return err
	}
	out := newProductOut(p)
	if u, err := a.Store.SerialUsage(r.Context(), gtin); err == nil {
		pool := newPoolOut(p, u)
		out.Serials = &pool
	} else if !errors.Is(err, sqldb.ErrNotFound) {
		return err
	}
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

// putProduct creates or updates a product. The scheme key is write-only:
// it is never shown; leave it out to keep the current key, or to have a
// 256-bit key generated for a new randomized scheme.
func (a *api) putProduct(w http.ResponseWriter, r *http.Request) error {
	gtin, err := gtinParam(r)
	if err != nil {
		return err
	}
	var in productIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := bodyKey("gtin", in.GTIN, gtin); err != nil {
		return err
	}
	before, err := a.Store.Product(r.Context(), gtin)
	exists := err == nil
	if err != nil && !errors.Is(err, sqldb.ErrNotFound) {
		return err
	}
	if in.Scheme.Kind == serials.KindRandomized && in.Scheme.Key == "" {
		if exists && before.Scheme.Kind == serials.KindRandomized && before.Scheme.Key != "" {
			in.Scheme.Key = before.Scheme.Key
		} else {
			var k [32]byte
			_, _ = rand.Read(k[:])
			in.Scheme.Key = hex.EncodeToString(k[:])
		}
	}
	if err := in.Scheme.Validate(); err != nil {
		return err // *serials.SpecError: field scheme.<name>
	}
	p := master.Product{GTIN: gtin, Name: in.Name, Form: in.Form, Strength: in.Strength, PackSize: in.PackSize, PackUnit: in.PackUnit,
		CompanyPrefixLen: in.CompanyPrefixLen, NDC: in.NDC, National: in.National, Markets: in.Markets, Scheme: in.Scheme,
		PlannedVolume: in.PlannedVolume, StandardCost: in.StandardCost, Currency: in.Currency, MinGrade: in.MinGrade,
		RejectAllowancePercent: in.RejectAllowancePercent, RejectAllowanceMin: in.RejectAllowanceMin}
	switch {
	case in.MinShelfLifeDays != nil:
		p.MinShelfLifeDays = *in.MinShelfLifeDays
	case exists:
		p.MinShelfLifeDays = before.MinShelfLifeDays
	}
	if slices.Contains(p.Markets, master.MarketEUFMD) && p.PlannedVolume > 0 {
		if err := serials.CheckFMD(p.Scheme, p.PlannedVolume); err != nil {
			return fmdError(p, err)
		}
	}
	if err := a.Store.PutProduct(r.Context(), p); err != nil {
		return err
	}
	saved, err := a.Store.Product(r.Context(), gtin)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if exists {
		status = http.StatusOK
	}
	a.log.Info("product saved", "gtin", gtin, "created", !exists, "scheme", saved.Scheme)
	httpjson.Write(w, status, newProductOut(saved))
	return nil
}

// fmdError is the 422 for a scheme that fails EU FMD, with the guess
// probability in the details.
func fmdError(p master.Product, err error) error {
	var se *serials.SpecError
	if errors.As(err, &se) {
		return err
	}
	field := "scheme.length"
	if p.Scheme.Kind == serials.KindSequential {
		field = "scheme.kind"
	}
	ae := invalid(field, "%v", err)
	ae.body.Details = assessFMD(p)
	return ae
}

func (a *api) getPool(w http.ResponseWriter, r *http.Request) error {
	gtin, err := gtinParam(r)
	if err != nil {
		return err
	}
	p, err := a.Store.Product(r.Context(), gtin)
	if err != nil {
		return err
	}
	u, err := a.Store.SerialUsage(r.Context(), gtin)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, newPoolOut(p, u))
	return nil
}

func (a *api) listPools(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.Store.Products(r.Context())
	if err != nil {
		return err
	}
	out := make([]poolOut, 0, len(ps))
	for _, p := range ps {
		u, err := a.Store.SerialUsage(r.Context(), p.GTIN)
		if err != nil {
			return err
		}
		out = append(out, newPoolOut(p, u))
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"pools": out})
	return nil
}

// importSerials reads a CSV serial list (see serials.ParseList) for a
// list-scheme product. Any problem rejects the whole file with every
// problem and its line number; nothing is imported then.
func (a *api) importSerials(w http.ResponseWriter, r *http.Request) error {
	gtin, err := gtinParam(r)
	if err != nil {
		return err
	}
	if err := requireContentType(r, csvContentType); err != nil {
		return err
	}
	p, err := a.Store.Product(r.Context(), gtin)
	if err != nil {
		return err
	}
	if p.Scheme.Kind != serials.KindList {
		return errorf(http.StatusConflict, codeState, "scheme.kind",
			"product %s uses a %s scheme; serials are imported only for a list scheme", gtin, p.Scheme.Kind)
	}
	spec := p.Scheme.ListSpec(gtin)
	spec.MaxErrors = maxListedProblem
	start := time.Now()
	list, err := serials.ParseList(r.Body, spec)
	if err != nil {
		return err
	}
	size, err := a.Store.ImportSerialList(r.Context(), gtin, list)
	if err != nil {
		return err
	}
	a.log.Info("serial list imported", "gtin", gtin, "serials", len(list), "list_size", size, "took", time.Since(start))
	httpjson.Write(w, http.StatusOK, map[string]any{"gtin": gtin, "imported": len(list), "list_size": size})
	return nil
}
