package master

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
)

// Market is a regulatory market a product is sold in.
type Market string

// The markets Serialine serves.
const (
	MarketUSDSCSA Market = "us-dscsa" // US Drug Supply Chain Security Act
	MarketEUFMD   Market = "eu-fmd"   // EU Falsified Medicines Directive
)

// Product is a trade item (one GTIN) and how its serials are made.
type Product struct {
	GTIN     string `json:"gtin"` // 14 digits
	Name     string `json:"name"`
	Form     string `json:"form,omitempty"`     // e.g. "film-coated tablet"
	Strength string `json:"strength,omitempty"` // e.g. "500 mg"
	PackSize int    `json:"pack_size,omitempty"`
	// PackUnit is the unit of PackSize ("TABLET", "mL", "CAPSULE"): the
	// netContentDescription of DSCSA master data is "20 TABLET".
	PackUnit string `json:"pack_unit,omitempty"`
	// CompanyPrefixLen is the length of the GS1 Company Prefix inside the
	// GTIN (6 to 12), needed for EPC URIs.
	CompanyPrefixLen int `json:"company_prefix_len"`
	// NDC is the US National Drug Code, required for us-dscsa: 10 digits
	// written labeler-product-package in a 4-4-2, 5-3-2 or 5-4-1
	// configuration. A us-dscsa product's GTIN embeds it (03 + NDC-10).
	NDC string `json:"ndc,omitempty"`
	// National holds other national reimbursement numbers by AI (710-717).
	National map[string]string `json:"national,omitempty"`
	Markets  []Market          `json:"markets"`
	Scheme   serials.Spec      `json:"scheme"`
	// PlannedVolume is how many serials the product will ever need; EU FMD
	// products need it to prove the guess probability stays below 1/10,000.
	PlannedVolume uint64 `json:"planned_volume,omitempty"`
	// StandardCost is in minor units (cents) of Currency.
	StandardCost int64  `json:"standard_cost,omitempty"`
	Currency     string `json:"currency,omitempty"`
	// MinGrade is the lowest acceptable ISO/IEC 15415 print grade (A-D).
	MinGrade string `json:"min_grade,omitempty"`
	// RejectAllowancePercent and RejectAllowanceMin make a new work
	// order's reject allowance (the units its line may spend on rejects
	// beyond the quantity): max(ceil(quantity × percent / 100), min); see
	// RejectAllowance. Nil on PutProduct: the default (5 %, 50 units) for a
	// new product, the current value for an update. Always set when read.
	RejectAllowancePercent *int    `json:"reject_allowance_percent"`
	RejectAllowanceMin     *uint64 `json:"reject_allowance_min"`
	// MinShelfLifeDays: a work order's expiry must be at least this many
	// days ahead when it is created and released (0: not in the past).
	MinShelfLifeDays int       `json:"min_shelf_life_days"`
	CreatedAt        time.Time `json:"created_at,omitzero"`
	UpdatedAt        time.Time `json:"updated_at,omitzero"`
}

// Validate checks every field; errors are *sqldb.ValidationError.
func (p Product) Validate() error {
	if ps := p.Problems(); len(ps) > 0 {
		return ps[0]
	}
	return nil
}

// Problems lists every rule p breaks, at most one per field, in the
// order of the fields (Validate returns the first): a form can show them
// all at once.
//
// It is long because it is the list of a product's field rules, one after the other; each
// is short.
func (p Product) Problems() []*sqldb.ValidationError {
	rec := "product " + p.GTIN
	var out []*sqldb.ValidationError
	add := func(err error) bool {
		var ve *sqldb.ValidationError
		if err == nil || !errors.As(err, &ve) {
			return false
		}
		for _, have := range out {
			if have.Field == ve.Field {
				return true
			}
		}
		out = append(out, ve)
		return true
	}
	if !add(check.GTIN(rec, "gtin", p.GTIN)) {
		if err := gs1.CheckTradeItemGTIN(gs1.GTIN(p.GTIN)); err != nil {
			add(sqldb.Invalid(rec, "gtin", "%v", err))
		}
	}
	add(check.Text(rec, "name", p.Name, true))
	add(check.Text(rec, "form", p.Form, false))
	add(check.Text(rec, "strength", p.Strength, false))
	if p.PackSize < 0 {
		add(sqldb.Invalid(rec, "pack_size", "must be 0 (unknown) or more, got %d", p.PackSize))
	}
	add(check.Text(rec, "pack_unit", p.PackUnit, false))
	if p.CompanyPrefixLen < 6 || p.CompanyPrefixLen > 12 {
		add(sqldb.Invalid(rec, "company_prefix_len", "must be 6 to 12 digits, got %d", p.CompanyPrefixLen))
	}
	if p.NDC != "" {
		add(checkNDC(rec, p.NDC))
	}
	for _, ai := range slices.Sorted(maps.Keys(p.National)) {
		if len(ai) != 3 || ai < "710" || ai > "717" {
			add(sqldb.Invalid(rec, "national", "AI %q is not a national healthcare reimbursement number (710-717)", ai))
		} else if err := (gs1.ElementString{{AI: "01", Value: p.GTIN}, {AI: ai, Value: p.National[ai]}}).Validate(); err != nil {
			add(sqldb.Invalid(rec, "national", "%v", err))
		}
	}
	if len(p.Markets) == 0 {
		add(sqldb.Invalid(rec, "markets", "missing; use %s and/or %s", MarketUSDSCSA, MarketEUFMD))
	}
	for i, m := range p.Markets {
		if m != MarketUSDSCSA && m != MarketEUFMD {
			add(sqldb.Invalid(rec, "markets", "%q is not a market; use %s or %s", m, MarketUSDSCSA, MarketEUFMD))
		} else if slices.Contains(p.Markets[:i], m) {
			add(sqldb.Invalid(rec, "markets", "%s is listed twice", m))
		}
	}
	if slices.Contains(p.Markets, MarketUSDSCSA) && p.NDC == "" {
		add(sqldb.Invalid(rec, "ndc", "missing; a us-dscsa product is identified by its NDC"))
	} else if slices.Contains(p.Markets, MarketUSDSCSA) {
		add(checkGTINEmbedsNDC(rec, p.GTIN, p.NDC))
	}
	schemeOK := !add(func() error {
		if err := p.Scheme.Validate(); err != nil {
			return sqldb.Invalid(rec, "scheme", "%v", err)
		}
		return nil
	}())
	if slices.Contains(p.Markets, MarketEUFMD) {
		if err := checkFMDAlphabet(p.Scheme); err != nil && schemeOK {
			add(sqldb.Invalid(rec, "scheme.alphabet", "%v", err))
		}
		if p.PlannedVolume == 0 {
			add(sqldb.Invalid(rec, "planned_volume", "missing; an eu-fmd product needs it to check the guess probability (Delegated Regulation 2016/161 art. 4(c))"))
		} else if err := serials.CheckFMD(p.Scheme, p.PlannedVolume); err != nil && schemeOK {
			add(sqldb.Invalid(rec, "scheme", "%v", err))
		}
	}
	if p.StandardCost < 0 {
		add(sqldb.Invalid(rec, "standard_cost", "must not be negative, got %d", p.StandardCost))
	}
	if p.Currency != "" || p.StandardCost != 0 {
		if len(p.Currency) != 3 || !check.IsUpper(p.Currency) {
			add(sqldb.Invalid(rec, "currency", "must be an ISO 4217 code of 3 capital letters, got %q", p.Currency))
		}
	}
	add(checkGrade(rec, p.MinGrade))
	if v := p.RejectAllowancePercent; v != nil && (*v < 0 || *v > 100) {
		add(sqldb.Invalid(rec, "reject_allowance_percent", "must be 0 to 100 (%% of the order quantity), got %d", *v))
	}
	if v := p.RejectAllowanceMin; v != nil && *v > MaxAllowance {
		add(sqldb.Invalid(rec, "reject_allowance_min", "must be 0 to %d units, got %d", uint64(MaxAllowance), *v))
	}
	add(p.checkAllowanceRule())
	if p.MinShelfLifeDays < 0 || p.MinShelfLifeDays > MaxShelfLifeDays {
		add(sqldb.Invalid(rec, "min_shelf_life_days", "must be 0 to %d days, got %d", MaxShelfLifeDays, p.MinShelfLifeDays))
	}
	return out
}

// The defaults and limits of the order-governance fields.
const (
	DefaultRejectAllowancePercent = 5
	DefaultRejectAllowanceMin     = 50
	// MaxAllowance bounds an allowance in units (the wire contract's).
	MaxAllowance = 1 << 40
	// MaxShelfLifeDays bounds min_shelf_life_days (about ten years).
	MaxShelfLifeDays = 3660
)

// checkAllowanceRule refuses a rule that makes allowances of 0: the orders
// topic reads an allowance of 0 as "not sent".
func (p Product) checkAllowanceRule() error {
	if p.RejectAllowancePercent != nil && *p.RejectAllowancePercent == 0 && p.RejectAllowanceMin != nil && *p.RejectAllowanceMin == 0 {
		return sqldb.Invalid("product "+p.GTIN, "reject_allowance_min", "must be at least 1 unit when reject_allowance_percent is 0: an order's allowance is at least 1")
	}
	return nil
}

// RejectAllowance is the reject allowance of a new order of quantity
// units: max(ceil(quantity × percent / 100), min), at most MaxAllowance.
func (p Product) RejectAllowance(quantity uint64) uint64 {
	pct, least := uint64(DefaultRejectAllowancePercent), uint64(DefaultRejectAllowanceMin)
	if p.RejectAllowancePercent != nil {
		pct = uint64(*p.RejectAllowancePercent)
	}
	if p.RejectAllowanceMin != nil {
		least = *p.RejectAllowanceMin
	}
	// quantity ≤ 2^40 and pct ≤ 100: the product fits in 64 bits.
	return min(max((quantity*pct+99)/100, least), MaxAllowance)
}

// redacted returns p for the audit trail: the scheme key is replaced by a
// fingerprint, so the trail shows that it changed without holding it.
func (p Product) redacted() Product {
	if p.Scheme.Key != "" {
		sum := sha256.Sum256([]byte(p.Scheme.Key))
		p.Scheme.Key = "sha256:" + hex.EncodeToString(sum[:6])
	}
	return p
}

const productCols = `gtin, name, form, strength, pack_size, company_prefix_len, ndc, national_numbers, markets,
	serial_scheme, planned_volume, standard_cost, currency, min_grade, created_at, updated_at,
	reject_allowance_percent, reject_allowance_min, min_shelf_life_days, pack_unit`

func scanProduct(q sqldb.Tx, r interface{ Scan(...any) error }) (Product, error) {
	var p Product
	var national, markets, scheme string
	p.RejectAllowancePercent, p.RejectAllowanceMin = new(int), new(uint64)
	err := r.Scan(&p.GTIN, &p.Name, &p.Form, &p.Strength, &p.PackSize, &p.CompanyPrefixLen, &p.NDC,
		&national, &markets, &scheme, &p.PlannedVolume, &p.StandardCost, &p.Currency, &p.MinGrade, &p.CreatedAt, &p.UpdatedAt,
		p.RejectAllowancePercent, p.RejectAllowanceMin, &p.MinShelfLifeDays, &p.PackUnit)
	if err != nil {
		return p, err
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	if err := json.Unmarshal([]byte(national), &p.National); err != nil {
		return p, fmt.Errorf("product %s: national_numbers: %w", p.GTIN, err)
	}
	if len(p.National) == 0 {
		p.National = nil
	}
	if err := json.Unmarshal([]byte(markets), &p.Markets); err != nil {
		return p, fmt.Errorf("product %s: markets: %w", p.GTIN, err)
	}
	if p.Scheme, err = OpenScheme(q, p.GTIN, scheme); err != nil {
		return p, err
	}
	return p, nil
}

func GetProduct(ctx context.Context, q sqldb.Tx, gtin string) (Product, error) {
	p, err := scanProduct(q, q.QueryRow(ctx, "SELECT "+productCols+" FROM products WHERE gtin = $1", gtin))
	if sqldb.IsNoRows(err) {
		return p, fmt.Errorf("product %s: %w", gtin, sqldb.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("product %s: %w", gtin, err)
	}
	return p, nil
}

// PutProduct creates a product or updates it. The serial scheme of a
// product cannot change once serials have been granted under it (that
// could issue a serial twice): such an update fails with sqldb.ErrConflict.
func (s *Data) PutProduct(ctx context.Context, p Product) error {
	if err := p.Validate(); err != nil {
		return err
	}
	national, _ := json.Marshal(orEmptyMap(p.National))
	markets, _ := json.Marshal(p.Markets)
	t := sqldb.Now()
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		// Sealed afresh on every write: a key stored in plaintext (or
		// under an older secrets key) is re-sealed with the current one.
		scheme, err := sealScheme(tx, p.GTIN, p.Scheme)
		if err != nil {
			return err
		}
		before, err := GetProduct(ctx, tx, p.GTIN)
		exists := err == nil
		if err != nil && !errors.Is(err, sqldb.ErrNotFound) {
			return err
		}
		p.CreatedAt, p.UpdatedAt = t, t
		if p.RejectAllowancePercent == nil {
			p.RejectAllowancePercent = ptrTo(DefaultRejectAllowancePercent)
			if exists {
				p.RejectAllowancePercent = before.RejectAllowancePercent
			}
		}
		if p.RejectAllowanceMin == nil {
			p.RejectAllowanceMin = ptrTo(uint64(DefaultRejectAllowanceMin))
			if exists {
				p.RejectAllowanceMin = before.RejectAllowanceMin
			}
		}
		if err := p.checkAllowanceRule(); err != nil {
			return err
		}
		if exists {
			p.CreatedAt = before.CreatedAt
			if before.Scheme != p.Scheme {
				var next int64
				if err := tx.QueryRow(ctx, "SELECT next_counter FROM serial_counters WHERE gtin = $1", p.GTIN).Scan(&next); err != nil {
					return fmt.Errorf("product %s: %w", p.GTIN, err)
				}
				if next > 0 {
					return fmt.Errorf("product %s: scheme: %w: %d serials were granted under the current scheme; changing it could issue a serial twice (create a new GTIN instead)", p.GTIN, sqldb.ErrConflict, next)
				}
			}
			_, err = tx.Exec(ctx, `UPDATE products SET name=$2, form=$3, strength=$4, pack_size=$5, company_prefix_len=$6, ndc=$7,
				national_numbers=$8, markets=$9, serial_scheme=$10, planned_volume=$11, standard_cost=$12, currency=$13,
				min_grade=$14, updated_at=$15, reject_allowance_percent=$16, reject_allowance_min=$17, min_shelf_life_days=$18,
				pack_unit=$19 WHERE gtin=$1`,
				p.GTIN, p.Name, p.Form, p.Strength, p.PackSize, p.CompanyPrefixLen, p.NDC, string(national), string(markets),
				string(scheme), p.PlannedVolume, p.StandardCost, p.Currency, p.MinGrade, t,
				*p.RejectAllowancePercent, *p.RejectAllowanceMin, p.MinShelfLifeDays, p.PackUnit)
			if err != nil {
				return fmt.Errorf("product %s: %w", p.GTIN, err)
			}
			return audit.Record(ctx, tx, "update", "product", p.GTIN, before.redacted(), p.redacted())
		}
		_, err = tx.Exec(ctx, "INSERT INTO products ("+productCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$15,$16,$17,$18,$19)",
			p.GTIN, p.Name, p.Form, p.Strength, p.PackSize, p.CompanyPrefixLen, p.NDC, string(national), string(markets),
			string(scheme), p.PlannedVolume, p.StandardCost, p.Currency, p.MinGrade, t,
			*p.RejectAllowancePercent, *p.RejectAllowanceMin, p.MinShelfLifeDays, p.PackUnit)
		if err != nil {
			return fmt.Errorf("product %s: %w", p.GTIN, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO serial_counters (gtin, next_counter, list_size) VALUES ($1, 0, 0)", p.GTIN); err != nil {
			return fmt.Errorf("product %s: serial counter: %w", p.GTIN, err)
		}
		return audit.Record(ctx, tx, "create", "product", p.GTIN, nil, p.redacted())
	})
}

// Product returns the product with gtin.
func (s *Data) Product(ctx context.Context, gtin string) (Product, error) {
	var p Product
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		p, err = GetProduct(ctx, q, gtin)
		return err
	})
	return p, err
}

// Products lists every product by GTIN.
func (s *Data) Products(ctx context.Context) ([]Product, error) {
	var out []Product
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.Query(ctx, "SELECT "+productCols+" FROM products ORDER BY gtin")
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			p, err := scanProduct(q, r)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	return out, nil
}

// checkNDC accepts a US NDC: 10 digits written labeler-product-package
// in a 4-4-2, 5-3-2 or 5-4-1 configuration. The hyphens are required:
// the configuration decides the 11-digit form (FDA_NDC_11) and cannot be
// read from the digits alone.
func checkNDC(rec, v string) error {
	if _, err := NDCDigits(v); err != nil {
		return sqldb.Invalid(rec, "ndc", "%q: %v", v, err)
	}
	return nil
}

// NDCDigits returns the 10 digits of an NDC written in a 4-4-2, 5-3-2 or
// 5-4-1 configuration.
func NDCDigits(ndc string) (string, error) {
	parts := strings.Split(ndc, "-")
	if len(parts) != 3 {
		return "", fmt.Errorf("an NDC has 10 digits written labeler-product-package with hyphens (4-4-2, 5-3-2 or 5-4-1), e.g. 12345-678-90")
	}
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return "", fmt.Errorf("character %q is neither a digit nor a hyphen", p[i])
			}
		}
	}
	switch [3]int{len(parts[0]), len(parts[1]), len(parts[2])} {
	case [3]int{4, 4, 2}, [3]int{5, 3, 2}, [3]int{5, 4, 1}:
		return parts[0] + parts[1] + parts[2], nil
	}
	return "", fmt.Errorf("a %d-%d-%d NDC: the configurations are 4-4-2, 5-3-2 and 5-4-1 (10 digits)", len(parts[0]), len(parts[1]), len(parts[2]))
}

// NDC11 is the 11-digit 5-4-2 form of an NDC (FDA_NDC_11, billing): the
// short segment padded with a leading zero, no hyphens.
func NDC11(ndc string) (string, error) {
	if _, err := NDCDigits(ndc); err != nil {
		return "", err
	}
	parts := strings.Split(ndc, "-")
	pad := func(s string, n int) string { return strings.Repeat("0", n-len(s)) + s }
	return pad(parts[0], 5) + pad(parts[1], 4) + pad(parts[2], 2), nil
}

// checkGTINEmbedsNDC refuses a US product's GTIN that does not carry its
// NDC: an indicator digit, 03, the NDC's 10 digits, a check digit.
func checkGTINEmbedsNDC(rec, gtin, ndc string) error {
	digits, err := NDCDigits(ndc)
	if err != nil || len(gtin) != 14 {
		return nil // the ndc and gtin checks report these
	}
	if gtin[1:3] == "03" && gtin[3:13] == digits {
		return nil
	}
	want := gtin[:1] + "03" + digits
	c, _ := gs1.CheckDigit(want)
	return sqldb.Invalid(rec, "gtin", "%s does not embed ndc %s: a US product's GTIN is an indicator digit, 03, the NDC's 10 digits and a check digit (%s%c)",
		gtin, ndc, want, c)
}

func checkGrade(rec, g string) error {
	switch g {
	case "", "A", "B", "C", "D":
		return nil
	}
	return sqldb.Invalid(rec, "min_grade", "%q is not an ISO/IEC 15415 grade; use A, B, C or D", g)
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func ptrTo[T any](v T) *T { return &v }

// checkFMDAlphabet refuses a serial alphabet an EU FMD product may not
// use: Delegated Regulation 2016/161 art. 4(b) has the serial "a numeric
// or alphanumeric sequence", so the CSET 82 punctuation a custom set or
// an unrestricted list may carry is out.
func checkFMDAlphabet(sc serials.Spec) error {
	const rule = "an eu-fmd serial is numeric or alphanumeric (Delegated Regulation 2016/161 art. 4(b))"
	switch a := sc.Alphabet; {
	case sc.SGTIN96 || sc.Kind == serials.KindSequential:
		return nil // numeric
	case a == serials.AlphabetNumeric || a == serials.AlphabetAlphanumeric:
		return nil
	case a == "":
		if sc.Kind == serials.KindList {
			return fmt.Errorf("%s: an imported list without an alphabet may hold any CSET 82 character; set numeric, alphanumeric or a set of letters and digits", rule)
		}
		return nil // randomized default: numeric
	default:
		for _, c := range a {
			if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
				return fmt.Errorf("%s: the alphabet has %q", rule, c)
			}
		}
		return nil
	}
}
