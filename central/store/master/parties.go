package master

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
)

// Address is a postal address as DSCSA master data carries it
// (streetAddressOne, city, state, postalCode, countryCode).
type Address struct {
	Street     string `json:"street"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postal_code"`
	// Country is the ISO 3166-1 alpha-2 code ("US").
	Country string `json:"country"`
}

// UnmarshalJSON takes the object form only: a single line of text (the
// form of before) is refused with what to send instead.
func (a *Address) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '"' {
		return errors.New(`address: an object {"street", "city", "state", "postal_code", "country"}, not a single line`)
	}
	type plain Address
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	*a = Address(p)
	return nil
}

// IsZero reports an empty address.
func (a Address) IsZero() bool { return a == Address{} }

// String writes the address on one line: "1 Main St, Durham, NC 27701, US".
func (a Address) String() string {
	var parts []string
	for _, p := range []string{a.Street, a.City, strings.TrimSpace(a.State + " " + a.PostalCode), a.Country} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// Check returns the first rule the address breaks, naming the field
// (address.street, …): each field at most 256 printable characters, the
// country two capital letters, and for the US a two-letter state and a
// ZIP code of 5 or 5+4 digits.
func (a Address) Check(rec string) error {
	for _, f := range []struct{ name, v string }{
		{"street", a.Street}, {"city", a.City}, {"state", a.State}, {"postal_code", a.PostalCode}, {"country", a.Country},
	} {
		if err := check.Text(rec, "address."+f.name, f.v, false); err != nil {
			return err
		}
	}
	if a.Country != "" && (len(a.Country) != 2 || !check.IsUpper(a.Country)) {
		return sqldb.Invalid(rec, "address.country", "must be an ISO 3166-1 alpha-2 code of 2 capital letters (US), got %q", a.Country)
	}
	if a.Country == "US" {
		if a.State != "" && (len(a.State) != 2 || !check.IsUpper(a.State)) {
			return sqldb.Invalid(rec, "address.state", "a US state is its 2-letter USPS code (NC), got %q", a.State)
		}
		if p := a.PostalCode; p != "" && !isZIP(p) {
			return sqldb.Invalid(rec, "address.postal_code", "a US ZIP code is 5 digits or 5+4 (27701-1234), got %q", p)
		}
	}
	return nil
}

func isZIP(p string) bool {
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	five, four, dash := strings.Cut(p, "-")
	return len(five) == 5 && digits(five) && (!dash || len(four) == 4 && digits(four))
}

const addressCols = "street, city, state, postal_code, country"

func (a *Address) scanArgs() []any {
	return []any{&a.Street, &a.City, &a.State, &a.PostalCode, &a.Country}
}
func (a Address) args() []any { return []any{a.Street, a.City, a.State, a.PostalCode, a.Country} }

// checkPrefixLen checks an optional GS1 Company Prefix length.
func checkPrefixLen(rec string, n int) error {
	if n != 0 && (n < 6 || n > 12) {
		return sqldb.Invalid(rec, "company_prefix_len", "must be 0 (unknown) or 6 to 12 digits, got %d", n)
	}
	return nil
}

// Site is a plant or warehouse, identified by its GLN.
type Site struct {
	GLN     string  `json:"gln"`
	Name    string  `json:"name"`
	Address Address `json:"address"`
	// CompanyPrefixLen is the length of the GS1 Company Prefix inside the
	// GLN (0: take it from a product of ours with the same prefix), for
	// the site's SGLN in EPCIS documents.
	CompanyPrefixLen int       `json:"company_prefix_len,omitempty"`
	CreatedAt        time.Time `json:"created_at,omitzero"`
	UpdatedAt        time.Time `json:"updated_at,omitzero"`
}

// PutSite creates or updates a site.
func (s *Data) PutSite(ctx context.Context, site Site) error {
	rec := "site " + site.GLN
	g, err := gs1.ParseGLN(site.GLN)
	if err == nil {
		err = gs1.CheckLocationGLN(g) // the all-zero GLN
	}
	if err != nil {
		return sqldb.Invalid(rec, "gln", "%v", err)
	}
	if err := check.Text(rec, "name", site.Name, true); err != nil {
		return err
	}
	if err := site.Address.Check(rec); err != nil {
		return err
	}
	if err := checkPrefixLen(rec, site.CompanyPrefixLen); err != nil {
		return err
	}
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		var before *Site
		if b, err := GetSite(ctx, tx, site.GLN); err == nil {
			before = &b
		} else if !errors.Is(err, sqldb.ErrNotFound) {
			return err
		}
		t := sqldb.Now()
		site.CreatedAt, site.UpdatedAt = t, t
		if before != nil {
			site.CreatedAt = before.CreatedAt
		}
		args := append([]any{site.GLN, site.Name, t, site.CompanyPrefixLen}, site.Address.args()...)
		_, err := tx.Exec(ctx, `INSERT INTO sites (gln, name, created_at, updated_at, company_prefix_len, `+addressCols+`)
			VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (gln) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at,
			company_prefix_len = excluded.company_prefix_len, street = excluded.street, city = excluded.city,
			state = excluded.state, postal_code = excluded.postal_code, country = excluded.country`, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		return auditPut(ctx, tx, "site", site.GLN, before, site)
	})
}

// auditPut records a create (before == nil) or an update.
func auditPut[T any](ctx context.Context, tx sqldb.Tx, entity, id string, before *T, after T) error {
	if before == nil {
		return audit.Record(ctx, tx, "create", entity, id, nil, after)
	}
	return audit.Record(ctx, tx, "update", entity, id, *before, after)
}

func GetSite(ctx context.Context, q sqldb.Tx, gln string) (Site, error) {
	var s Site
	err := q.QueryRow(ctx, "SELECT gln, name, created_at, updated_at, company_prefix_len, "+addressCols+" FROM sites WHERE gln = $1", gln).
		Scan(append([]any{&s.GLN, &s.Name, &s.CreatedAt, &s.UpdatedAt, &s.CompanyPrefixLen}, s.Address.scanArgs()...)...)
	if sqldb.IsNoRows(err) {
		return s, fmt.Errorf("site %s: %w", gln, sqldb.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("site %s: %w", gln, err)
	}
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, nil
}

// Site returns the site with gln.
func (s *Data) Site(ctx context.Context, gln string) (Site, error) {
	var site Site
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		site, err = GetSite(ctx, q, gln)
		return err
	})
	return site, err
}

// Sites lists every site by GLN.
func (s *Data) Sites(ctx context.Context) ([]Site, error) {
	var out []Site
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		out, err = sqldb.QueryAll(ctx, q, "SELECT gln FROM sites ORDER BY gln", nil, func(r sqldb.Rows) (Site, error) {
			var s Site
			return s, r.Scan(&s.GLN)
		})
		if err != nil {
			return err
		}
		for i := range out {
			if out[i], err = GetSite(ctx, q, out[i].GLN); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sites: %w", err)
	}
	return out, nil
}

// Location is a place inside a site (a storage area, a dock), identified
// by an SGLN: GLN plus extension. An empty Address means the site's.
type Location struct {
	GLN       string    `json:"gln"`
	Extension string    `json:"extension"` // "0" when the GLN alone identifies it
	SiteGLN   string    `json:"site_gln"`
	Name      string    `json:"name"`
	Address   Address   `json:"address"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// SGLN returns the EPC URI urn:epc:id:sgln:... of the location, given the
// length of the GS1 Company Prefix inside its GLN.
func (l Location) SGLN(companyPrefixLen int) (string, error) {
	return gs1.SGLNURI(gs1.GLN(l.GLN), l.Extension, companyPrefixLen)
}

const locationCols = "gln, extension, site_gln, name, created_at, updated_at, " + addressCols

func scanLocation(r interface{ Scan(...any) error }) (Location, error) {
	var l Location
	err := r.Scan(append([]any{&l.GLN, &l.Extension, &l.SiteGLN, &l.Name, &l.CreatedAt, &l.UpdatedAt}, l.Address.scanArgs()...)...)
	l.CreatedAt, l.UpdatedAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC()
	return l, err
}

// PutLocation creates or updates a location; its site must exist.
func (s *Data) PutLocation(ctx context.Context, l Location) error {
	rec := "location " + l.GLN + "." + l.Extension
	g, err := gs1.ParseGLN(l.GLN)
	if err == nil {
		err = gs1.CheckLocationGLN(g) // the all-zero GLN
	}
	if err != nil {
		return sqldb.Invalid(rec, "gln", "%v", err)
	}
	if l.Extension == "" || len(l.Extension) > 20 || !gs1.IsCSET82(l.Extension) {
		return sqldb.Invalid(rec, "extension", "must be 1 to 20 characters of CSET 82 (\"0\" for none), got %q", l.Extension)
	}
	if err := check.Text(rec, "name", l.Name, true); err != nil {
		return err
	}
	if err := l.Address.Check(rec); err != nil {
		return err
	}
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		if _, err := GetSite(ctx, tx, l.SiteGLN); err != nil {
			return fmt.Errorf("%s: site_gln: %w", rec, err)
		}
		var before *Location
		b, err := scanLocation(tx.QueryRow(ctx, "SELECT "+locationCols+" FROM locations WHERE gln = $1 AND extension = $2", l.GLN, l.Extension))
		switch {
		case err == nil:
			before = &b
		case !sqldb.IsNoRows(err):
			return fmt.Errorf("%s: %w", rec, err)
		}
		t := sqldb.Now()
		l.CreatedAt, l.UpdatedAt = t, t
		if before != nil {
			l.CreatedAt = before.CreatedAt
		}
		args := append([]any{l.GLN, l.Extension, l.SiteGLN, l.Name, t}, l.Address.args()...)
		_, err = tx.Exec(ctx, `INSERT INTO locations (gln, extension, site_gln, name, created_at, updated_at, `+addressCols+`)
			VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (gln, extension) DO UPDATE SET site_gln = excluded.site_gln, name = excluded.name, updated_at = excluded.updated_at,
			street = excluded.street, city = excluded.city, state = excluded.state, postal_code = excluded.postal_code, country = excluded.country`, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		return auditPut(ctx, tx, "location", l.GLN+"."+l.Extension, before, l)
	})
}

// Locations lists the locations of a site.
func (s *Data) Locations(ctx context.Context, siteGLN string) ([]Location, error) {
	var out []Location
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		out, err = sqldb.QueryAll(ctx, q, "SELECT "+locationCols+" FROM locations WHERE site_gln = $1 ORDER BY gln, extension",
			[]any{siteGLN}, func(r sqldb.Rows) (Location, error) { return scanLocation(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("locations of site %s: %w", siteGLN, err)
	}
	return out, nil
}

// LocationOf returns the location (gln, extension).
func (s *Data) LocationOf(ctx context.Context, gln, ext string) (Location, error) {
	var l Location
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		l, err = scanLocation(q.QueryRow(ctx, "SELECT "+locationCols+" FROM locations WHERE gln = $1 AND extension = $2", gln, ext))
		return err
	})
	if sqldb.IsNoRows(err) {
		return l, fmt.Errorf("location %s.%s: %w", gln, ext, sqldb.ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("location %s.%s: %w", gln, ext, err)
	}
	return l, nil
}

// EPCIS versions a partner takes.
const (
	EPCIS12 = "1.2" // GS1 US's DSCSA guideline: the default
	EPCIS20 = "2.0"
)

// Partner is a trading partner (wholesaler, 3PL, dispenser, contract
// manufacturer) by GLN.
type Partner struct {
	GLN     string  `json:"gln"`
	Name    string  `json:"name"`
	Address Address `json:"address"`
	// Licences holds licence numbers by kind, e.g. {"us-state-nj-wholesale": "1234"}.
	Licences map[string]string `json:"licences,omitempty"`
	// EPCISVersion is the EPCIS version of the DSCSA documents the partner
	// takes: "1.2" (default) or "2.0".
	EPCISVersion string `json:"epcis_version"`
	// CompanyPrefixLen is the length of the GS1 Company Prefix inside the
	// partner's GLN (0: unknown); known, its GLN is written as an SGLN
	// in EPCIS documents, else as a GS1 Digital Link.
	CompanyPrefixLen int       `json:"company_prefix_len,omitempty"`
	CreatedAt        time.Time `json:"created_at,omitzero"`
	UpdatedAt        time.Time `json:"updated_at,omitzero"`
}

// PutPartner creates or updates a trading partner. An empty EPCISVersion
// is 1.2.
func (s *Data) PutPartner(ctx context.Context, p Partner) error {
	rec := "partner " + p.GLN
	g, err := gs1.ParseGLN(p.GLN)
	if err == nil {
		err = gs1.CheckLocationGLN(g) // the all-zero GLN
	}
	if err != nil {
		return sqldb.Invalid(rec, "gln", "%v", err)
	}
	if err := check.Text(rec, "name", p.Name, true); err != nil {
		return err
	}
	if err := p.Address.Check(rec); err != nil {
		return err
	}
	if err := checkPrefixLen(rec, p.CompanyPrefixLen); err != nil {
		return err
	}
	if p.EPCISVersion == "" {
		p.EPCISVersion = EPCIS12
	}
	if p.EPCISVersion != EPCIS12 && p.EPCISVersion != EPCIS20 {
		return sqldb.Invalid(rec, "epcis_version", "%q: use %s (GS1 US's DSCSA guideline) or %s", p.EPCISVersion, EPCIS12, EPCIS20)
	}
	for k, v := range p.Licences {
		if err := check.Text(rec, "licences", k, true); err != nil {
			return err
		}
		if err := check.Text(rec, "licences["+k+"]", v, true); err != nil {
			return err
		}
	}
	licences, _ := json.Marshal(orEmptyMap(p.Licences))
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		var before *Partner
		if b, err := GetPartner(ctx, tx, p.GLN); err == nil {
			before = &b
		} else if !errors.Is(err, sqldb.ErrNotFound) {
			return err
		}
		t := sqldb.Now()
		p.CreatedAt, p.UpdatedAt = t, t
		if before != nil {
			p.CreatedAt = before.CreatedAt
		}
		args := append([]any{p.GLN, p.Name, string(licences), t, p.EPCISVersion, p.CompanyPrefixLen}, p.Address.args()...)
		_, err := tx.Exec(ctx, `INSERT INTO trading_partners (gln, name, licences, created_at, updated_at, epcis_version, company_prefix_len, `+addressCols+`)
			VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (gln) DO UPDATE SET name = excluded.name, licences = excluded.licences, updated_at = excluded.updated_at,
			epcis_version = excluded.epcis_version, company_prefix_len = excluded.company_prefix_len,
			street = excluded.street, city = excluded.city, state = excluded.state, postal_code = excluded.postal_code, country = excluded.country`, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		return auditPut(ctx, tx, "partner", p.GLN, before, p)
	})
}

func GetPartner(ctx context.Context, q sqldb.Tx, gln string) (Partner, error) {
	var p Partner
	var licences string
	err := q.QueryRow(ctx, "SELECT gln, name, licences, created_at, updated_at, epcis_version, company_prefix_len, "+addressCols+
		" FROM trading_partners WHERE gln = $1", gln).
		Scan(append([]any{&p.GLN, &p.Name, &licences, &p.CreatedAt, &p.UpdatedAt, &p.EPCISVersion, &p.CompanyPrefixLen}, p.Address.scanArgs()...)...)
	if sqldb.IsNoRows(err) {
		return p, fmt.Errorf("partner %s: %w", gln, sqldb.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("partner %s: %w", gln, err)
	}
	if err := json.Unmarshal([]byte(licences), &p.Licences); err != nil {
		return p, fmt.Errorf("partner %s: licences: %w", gln, err)
	}
	if len(p.Licences) == 0 {
		p.Licences = nil
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

// Partner returns the trading partner with gln.
func (s *Data) Partner(ctx context.Context, gln string) (Partner, error) {
	var p Partner
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		p, err = GetPartner(ctx, q, gln)
		return err
	})
	return p, err
}

// Partners lists every trading partner by GLN.
func (s *Data) Partners(ctx context.Context) ([]Partner, error) {
	var out []Partner
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		glns, err := sqldb.QueryAll(ctx, q, "SELECT gln FROM trading_partners ORDER BY gln", nil, func(r sqldb.Rows) (string, error) {
			var g string
			return g, r.Scan(&g)
		})
		if err != nil {
			return err
		}
		for _, g := range glns {
			p, err := GetPartner(ctx, q, g)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("partners: %w", err)
	}
	return out, nil
}
