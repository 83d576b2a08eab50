package eufmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
)

// The EU FMD master data of a product: what Delegated Regulation
// 2016/161 art. 33(2) has the marketing-authorisation holder upload to the
// repositories system, beside what the product record already holds
// (name, pharmaceutical form, strength, pack size). Versioned as the EU
// hub versions a product code: a version uploaded keeps its target
// markets; another market list is a new version (and a batch belongs to
// the version it was uploaded under).

// CodingSchemeGTIN is the coding scheme of a GTIN product code (the EU
// hub's "GTIN"; the other is "PPN", the IFA's, which Serialine does not
// make).
const CodingSchemeGTIN = "GTIN"

// FMDMarket is one target Member State of a product with what the hub
// wants per market.
type FMDMarket struct {
	// Country is the Member State's ISO 3166-1 alpha-2 code (EU and EEA).
	Country string `json:"country"`
	// NationalCode is the national reimbursement number (NHRN) for the
	// market. Required where the market has a GS1 AI for it (DE 710 PZN,
	// FR 711 CIP, ES 712 CN, PT 714 AIM); when the product record holds
	// that AI, it is the same value (filled from it when left out).
	NationalCode string `json:"national_code,omitempty"`
	// MAH is the GLN of the marketing-authorisation holder for the market
	// (one of our sites or a trading partner), named with its address in
	// the data set.
	MAH string `json:"mah"`
	// Wholesalers are the GLNs (trading partners) the MAH designated by
	// written contract to store and distribute the product on its behalf
	// in the market (art. 33(2)(i)); may be empty.
	Wholesalers []string `json:"wholesalers,omitempty"`
}

// FMDProduct is one version of a product's EU FMD master data.
type FMDProduct struct {
	GTIN    string `json:"gtin"`
	Version int    `json:"version"`
	// CommonName is the product's non-invented name (INN), art. 33(2)(c).
	CommonName string `json:"common_name"`
	// PackType is the kind of pack ("carton with 2 blisters"), art. 33(2)(c).
	PackType string `json:"pack_type"`
	// CodingScheme is the product code's coding scheme (art. 33(2)(b)):
	// CodingSchemeGTIN ("" is taken as it).
	CodingScheme string `json:"coding_scheme"`
	// ATCCodes are the product's ATC codes (optional for the hub).
	ATCCodes []string `json:"atc_codes,omitempty"`
	// Article57Code is, where applicable, the product's entry in the EMA's
	// Article 57 database (art. 33(2)(e)).
	Article57Code string `json:"article57_code,omitempty"`
	// Manufacturer is the GLN of the manufacturer placing the safety
	// features (a site of ours, or a contract manufacturer as a partner),
	// art. 33(2)(f).
	Manufacturer string      `json:"manufacturer"`
	Markets      []FMDMarket `json:"markets"`
	CreatedAt    time.Time   `json:"created_at,omitzero"`
	UpdatedAt    time.Time   `json:"updated_at,omitzero"`
	// UploadedAt is when this version was first queued for the hub; its
	// target markets are fixed from then.
	UploadedAt *time.Time `json:"uploaded_at,omitempty"`
}

// Countries lists the version's target Member States, sorted.
func (p FMDProduct) Countries() []string {
	out := make([]string, len(p.Markets))
	for i, m := range p.Markets {
		out[i] = m.Country
	}
	slices.Sort(out)
	return out
}

// FMDMemberStates are the markets of the EU FMD: the EU's Member States
// and the EEA's (Iceland, Liechtenstein, Norway), by ISO 3166-1 code.
var fmdMemberStates = []string{"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS",
	"IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK"}

// FMDMemberStates lists the country codes a target market may have.
func FMDMemberStates() []string { return slices.Clone(fmdMemberStates) }

// NationalCodeAI is the GS1 AI of a market's national reimbursement
// number, "" for a market without one (GS1 General Specifications: 710
// Germany PZN, 711 France CIP, 712 Spain CN, 714 Portugal AIM; 713 Brazil
// and 715 the US are not EU FMD markets).
func NationalCodeAI(country string) string {
	switch country {
	case "DE":
		return "710"
	case "FR":
		return "711"
	case "ES":
		return "712"
	case "PT":
		return "714"
	}
	return ""
}

var atcCode = regexp.MustCompile(`^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$`)

// party is a site or a trading partner by GLN, as the data set names it.
type party struct {
	GLN     string
	Name    string
	Address master.Address
}

// lookupParty finds a GLN among our sites, then the trading partners.
func lookupParty(ctx context.Context, q sqldb.Tx, gln string) (party, error) {
	if s, err := master.GetSite(ctx, q, gln); err == nil {
		return party{GLN: s.GLN, Name: s.Name, Address: s.Address}, nil
	} else if !errors.Is(err, sqldb.ErrNotFound) {
		return party{}, err
	}
	p, err := master.GetPartner(ctx, q, gln)
	if err != nil {
		return party{}, err
	}
	return party{GLN: p.GLN, Name: p.Name, Address: p.Address}, nil
}

// checkParty refuses a GLN that names no site or partner, or one whose
// address lacks what the hub needs (street, city, postal code, country).
func checkParty(ctx context.Context, q sqldb.Tx, rec, field, gln string, partnerOnly bool) (*sqldb.ValidationError, error) {
	if _, err := gs1.ParseGLN(gln); err != nil {
		return &sqldb.ValidationError{Record: rec, Field: field, Rule: fmt.Sprintf("a GLN: %v", err)}, nil
	}
	var p party
	var err error
	if partnerOnly {
		var tp master.Partner
		tp, err = master.GetPartner(ctx, q, gln)
		p = party{GLN: tp.GLN, Name: tp.Name, Address: tp.Address}
	} else {
		p, err = lookupParty(ctx, q, gln)
	}
	if errors.Is(err, sqldb.ErrNotFound) {
		what := "a site or trading partner"
		if partnerOnly {
			what = "a trading partner"
		}
		return &sqldb.ValidationError{Record: rec, Field: field, Rule: fmt.Sprintf("%s is not %s of central's", gln, what)}, nil
	}
	if err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, v string }{{"street", p.Address.Street}, {"city", p.Address.City},
		{"postal_code", p.Address.PostalCode}, {"country", p.Address.Country}} {
		if f.v == "" {
			return &sqldb.ValidationError{Record: rec, Field: field, Rule: fmt.Sprintf("%s (%s) has no address.%s; the EU hub needs its name and full address", gln, p.Name, f.name)}, nil
		}
	}
	return nil, nil
}

// fmdProblems lists every rule a version breaks before it may reach the
// hub, each naming its field: the art. 33(2) elements of the product
// Record (product.form, product.strength, product.pack_size) and of the
// EU master data, the parties it names, the national codes.
func fmdProblems(ctx context.Context, q sqldb.Tx, p FMDProduct) ([]*sqldb.ValidationError, error) {
	rec := "EU FMD master data of product " + p.GTIN
	var out []*sqldb.ValidationError
	add := func(err error) {
		var ve *sqldb.ValidationError
		if errors.As(err, &ve) {
			out = append(out, ve)
		}
	}
	prod, err := master.GetProduct(ctx, q, p.GTIN)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(prod.Markets, master.MarketEUFMD) {
		add(sqldb.Invalid(rec, "product.markets", "the product is not sold under %s; add the market first", master.MarketEUFMD))
	}
	add(check.Text(rec, "product.form", prod.Form, true))
	add(check.Text(rec, "product.strength", prod.Strength, true))
	if prod.PackSize <= 0 {
		add(sqldb.Invalid(rec, "product.pack_size", "missing; the hub needs the pack size (art. 33(2)(c))"))
	}
	add(check.Text(rec, "common_name", p.CommonName, true))
	add(check.Text(rec, "pack_type", p.PackType, true))
	if p.CodingScheme != CodingSchemeGTIN {
		add(sqldb.Invalid(rec, "coding_scheme", "must be %s (the product code is a GTIN), got %q", CodingSchemeGTIN, p.CodingScheme))
	}
	for i, c := range p.ATCCodes {
		if !atcCode.MatchString(c) {
			add(sqldb.Invalid(rec, "atc_codes["+strconv.Itoa(i)+"]", "an ATC code is a letter, then 2 digits, a letter, a letter and 2 digits (N02BE01) or a leading part of that, got %q", c))
		}
	}
	add(check.Text(rec, "article57_code", p.Article57Code, false))
	if ve, err := checkParty(ctx, q, rec, "manufacturer", p.Manufacturer, false); err != nil {
		return nil, err
	} else if ve != nil {
		out = append(out, ve)
	}
	if len(p.Markets) == 0 {
		add(sqldb.Invalid(rec, "markets", "missing; list the target Member States (art. 33(2)(d))"))
	}
	seen := map[string]int{}
	for i, m := range p.Markets {
		f := "markets[" + strconv.Itoa(i) + "]"
		if !slices.Contains(fmdMemberStates, m.Country) {
			add(sqldb.Invalid(rec, f+".country", "%q is not an EU or EEA Member State's ISO 3166-1 code", m.Country))
		} else if j, dup := seen[m.Country]; dup {
			add(sqldb.Invalid(rec, f+".country", "%s is listed twice (markets[%d])", m.Country, j))
		}
		seen[m.Country] = i
		if ai := NationalCodeAI(m.Country); ai != "" {
			switch printed := prod.National[ai]; {
			case m.NationalCode == "":
				add(sqldb.Invalid(rec, f+".national_code", "missing; %s has a national reimbursement number (AI %s)", m.Country, ai))
			case printed != "" && printed != m.NationalCode:
				add(sqldb.Invalid(rec, f+".national_code", "%q differs from the AI %s the pack carries (%q)", m.NationalCode, ai, printed))
			default:
				if err := (gs1.ElementString{{AI: "01", Value: p.GTIN}, {AI: ai, Value: m.NationalCode}}).Validate(); err != nil {
					add(sqldb.Invalid(rec, f+".national_code", "%v", err))
				}
			}
		} else if m.NationalCode != "" && (len(m.NationalCode) > 20 || !gs1.IsCSET82(m.NationalCode)) {
			add(sqldb.Invalid(rec, f+".national_code", "at most 20 characters of GS1 CSET 82, got %q", m.NationalCode))
		}
		if ve, err := checkParty(ctx, q, rec, f+".mah", m.MAH, false); err != nil {
			return nil, err
		} else if ve != nil {
			out = append(out, ve)
		}
		for k, w := range m.Wholesalers {
			if ve, err := checkParty(ctx, q, rec, f+".wholesalers["+strconv.Itoa(k)+"]", w, true); err != nil {
				return nil, err
			} else if ve != nil {
				out = append(out, ve)
			}
		}
	}
	return out, nil
}

// normalizeFMD fills what may be left out: the coding scheme, and a
// market's national code from the AI the product record holds.
func normalizeFMD(p *FMDProduct, prod master.Product) {
	if p.CodingScheme == "" {
		p.CodingScheme = CodingSchemeGTIN
	}
	for i := range p.Markets {
		m := &p.Markets[i]
		if ai := NationalCodeAI(m.Country); ai != "" && m.NationalCode == "" {
			m.NationalCode = prod.National[ai]
		}
	}
}

// FMDProblems lists every rule p breaks before it may reach the hub (see
// PutFMDProduct); empty when it may.
func (s *Register) FMDProblems(ctx context.Context, p FMDProduct) ([]*sqldb.ValidationError, error) {
	var out []*sqldb.ValidationError
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		prod, err := master.GetProduct(ctx, q, p.GTIN)
		if err != nil {
			return err
		}
		normalizeFMD(&p, prod)
		out, err = fmdProblems(ctx, q, p)
		return err
	})
	return out, err
}

const fmdCols = "gtin, version, data, created_at, updated_at, uploaded_at"

func scanFMD(r interface{ Scan(...any) error }) (FMDProduct, error) {
	var gtin, data string
	var v int
	var created, updated time.Time
	var uploaded *time.Time
	if err := r.Scan(&gtin, &v, &data, &created, &updated, &uploaded); err != nil {
		return FMDProduct{}, err
	}
	var p FMDProduct
	if err := json.Unmarshal([]byte(data), &p); err != nil {
		return p, fmt.Errorf("EU FMD master data of %s v%d: %w", gtin, v, err)
	}
	p.GTIN, p.Version, p.CreatedAt, p.UpdatedAt = gtin, v, created.UTC(), updated.UTC()
	if uploaded != nil {
		u := uploaded.UTC()
		p.UploadedAt = &u
	}
	return p, nil
}

// getFMD reads a version of a product's EU master data; version 0 is the
// current (highest) one.
func getFMD(ctx context.Context, q sqldb.Tx, gtin string, version int) (FMDProduct, error) {
	var p FMDProduct
	var err error
	if version == 0 {
		p, err = scanFMD(q.QueryRow(ctx, "SELECT "+fmdCols+" FROM fmd_products WHERE gtin = $1 ORDER BY version DESC LIMIT 1", gtin))
	} else {
		p, err = scanFMD(q.QueryRow(ctx, "SELECT "+fmdCols+" FROM fmd_products WHERE gtin = $1 AND version = $2", gtin, version))
	}
	if sqldb.IsNoRows(err) {
		return p, fmt.Errorf("EU FMD master data of product %s: %w", gtin, sqldb.ErrNotFound)
	}
	return p, err
}

// FMDProduct returns a version of the product's EU FMD master data (0:
// the current one).
func (s *Register) FMDProduct(ctx context.Context, gtin string, version int) (FMDProduct, error) {
	var p FMDProduct
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		p, err = getFMD(ctx, q, gtin, version)
		return err
	})
	return p, err
}

// fmdData is what the data column keeps (the row holds the rest).
func fmdData(p FMDProduct) string {
	p.GTIN, p.Version, p.CreatedAt, p.UpdatedAt, p.UploadedAt = "", 0, time.Time{}, time.Time{}, nil
	b, _ := json.Marshal(p) // strings and slices always marshal
	return string(b)
}

// PutFMDProduct sets a product's EU FMD master data after checking every
// rule the hub applies (the first broken one is the error, a
// *sqldb.ValidationError naming its field; FMDProblems lists them all). Until
// the current version has been uploaded it is updated in place. Once it
// has, its target markets cannot change (the hub refuses that): a
// different market list is sqldb.ErrConflict naming markets, unless newVersion
// asks for a new product code version, which gets it. Audited.
func (s *Register) PutFMDProduct(ctx context.Context, p FMDProduct, newVersion bool) (FMDProduct, error) {
	rec := "EU FMD master data of product " + p.GTIN
	if err := check.GTIN(rec, "gtin", p.GTIN); err != nil {
		return p, err
	}
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		prod, err := master.GetProduct(ctx, tx, p.GTIN)
		if err != nil {
			return err
		}
		normalizeFMD(&p, prod)
		ps, err := fmdProblems(ctx, tx, p)
		if err != nil {
			return err
		}
		if len(ps) > 0 {
			return ps[0]
		}
		t := sqldb.Now()
		cur, err := getFMD(ctx, tx, p.GTIN, 0)
		switch {
		case errors.Is(err, sqldb.ErrNotFound):
			p.Version, p.CreatedAt, p.UpdatedAt, p.UploadedAt = 1, t, t, nil
		case err != nil:
			return err
		case cur.UploadedAt != nil && !slices.Equal(cur.Countries(), p.Countries()):
			if !newVersion {
				return fmt.Errorf("%s: markets: %w: version %d was uploaded to the EU hub for %v; the hub keeps a version's target markets: "+
					"ask for a new product code version (new_version) to upload %v", rec, sqldb.ErrConflict, cur.Version, cur.Countries(), p.Countries())
			}
			p.Version, p.CreatedAt, p.UpdatedAt, p.UploadedAt = cur.Version+1, t, t, nil
		case newVersion:
			return sqldb.Invalid(rec, "new_version", "only when the target markets of an uploaded version change (version %d: uploaded %t, markets %v)",
				cur.Version, cur.UploadedAt != nil, cur.Countries())
		default:
			p.Version, p.CreatedAt, p.UpdatedAt, p.UploadedAt = cur.Version, cur.CreatedAt, t, cur.UploadedAt
			if _, err := tx.Exec(ctx, "UPDATE fmd_products SET data = $3, updated_at = $4 WHERE gtin = $1 AND version = $2",
				p.GTIN, p.Version, fmdData(p), t); err != nil {
				return err
			}
			return audit.Record(ctx, tx, "update", "fmd_product", p.GTIN+"/v"+strconv.Itoa(p.Version), cur, p)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO fmd_products ("+fmdCols+") VALUES ($1, $2, $3, $4, $4, NULL)",
			p.GTIN, p.Version, fmdData(p), t); err != nil {
			return err
		}
		return audit.Record(ctx, tx, "create", "fmd_product", p.GTIN+"/v"+strconv.Itoa(p.Version), nil, p)
	})
	if err != nil {
		return FMDProduct{}, err
	}
	return p, nil
}

// FMDParty is a party the data set names: GLN, name and address.
type FMDParty struct {
	GLN     string         `json:"gln"`
	Name    string         `json:"name"`
	Address master.Address `json:"address"`
}

// FMDParties resolves GLNs to their names and addresses (sites first,
// then partners).
func (s *Register) FMDParties(ctx context.Context, glns []string) (map[string]FMDParty, error) {
	out := map[string]FMDParty{}
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		for _, g := range glns {
			if _, ok := out[g]; ok {
				continue
			}
			p, err := lookupParty(ctx, q, g)
			if err != nil {
				return fmt.Errorf("party %s: %w", g, err)
			}
			out[g] = FMDParty(p)
		}
		return nil
	})
	return out, err
}

// fmdGateways lists the partners with an EU FMD gateway endpoint.
func fmdGateways(ctx context.Context, q sqldb.Tx) ([]string, error) {
	r, err := q.Query(ctx, "SELECT gln FROM partner_endpoints WHERE kind = $1 ORDER BY gln", master.EndpointFMD)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var g string
		if err := r.Scan(&g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, r.Err()
}

// ErrNoFMDGateway: no trading partner has an fmd endpoint (the EU hub's
// on-boarding partner gateway), so there is nowhere to send the data set.
var ErrNoFMDGateway = errors.New("no EU FMD gateway: set a partner's endpoint of kind fmd (PUT /api/v1/partners/{gln}/endpoints/fmd)")

// enqueueFMD queues an fmd document for every gateway; none is
// ErrNoFMDGateway when required, else nothing.
func enqueueFMD(ctx context.Context, tx sqldb.Tx, ref string, required bool) ([]messages.OutboundMessage, error) {
	gws, err := fmdGateways(ctx, tx)
	if err != nil {
		return nil, err
	}
	if len(gws) == 0 && required {
		return nil, ErrNoFMDGateway
	}
	var out []messages.OutboundMessage
	for _, g := range gws {
		m, err := messages.EnqueueOutbound(ctx, tx, master.EndpointFMD, ref, g)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// FMDProductRef and friends are the outbound references of the fmd
// documents: a product code version, a work order's batch, a status
// update.
func FMDProductRef(gtin string, version int) string {
	return "product:" + gtin + ":" + strconv.Itoa(version)
}
func FMDBatchRef(order string) string { return "batch:" + order }
func FMDStatusRef(id int64) string    { return "status:" + strconv.FormatInt(id, 10) }

// uploadFMDProduct marks the version uploaded (its markets are fixed from
// now) and queues it, unless it was queued before.
func uploadFMDProduct(ctx context.Context, tx sqldb.Tx, p FMDProduct) ([]messages.OutboundMessage, error) {
	if p.UploadedAt != nil {
		return nil, nil
	}
	if _, err := tx.Exec(ctx, "UPDATE fmd_products SET uploaded_at = $3 WHERE gtin = $1 AND version = $2 AND uploaded_at IS NULL",
		p.GTIN, p.Version, sqldb.Now()); err != nil {
		return nil, err
	}
	ms, err := enqueueFMD(ctx, tx, FMDProductRef(p.GTIN, p.Version), true)
	if err != nil {
		return nil, err
	}
	return ms, audit.Record(ctx, tx, "upload", "fmd_product", p.GTIN+"/v"+strconv.Itoa(p.Version), nil, map[string]any{"markets": p.Countries()})
}

// SendFMDProduct queues the current version of the product's master data
// for the hub (checked first: every problem is a *sqldb.ValidationError naming
// its field), and marks it uploaded. A version queued before is queued
// again (the same document). Audited.
func (s *Register) SendFMDProduct(ctx context.Context, gtin string) (FMDProduct, []messages.OutboundMessage, error) {
	var p FMDProduct
	var ms []messages.OutboundMessage
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		var err error
		if p, err = getFMD(ctx, tx, gtin, 0); err != nil {
			return err
		}
		if ps, err := fmdProblems(ctx, tx, p); err != nil {
			return err
		} else if len(ps) > 0 {
			return ps[0]
		}
		if p.UploadedAt == nil {
			ms, err = uploadFMDProduct(ctx, tx, p)
			t := sqldb.Now()
			p.UploadedAt = &t
			return err
		}
		ms, err = enqueueFMD(ctx, tx, FMDProductRef(p.GTIN, p.Version), true)
		return err
	})
	return p, ms, err
}
