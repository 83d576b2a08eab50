package api

import (
	"errors"
	"net/http"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/wire"
)

// --- sites and locations ---

type siteIn struct {
	GLN              string         `json:"gln"`
	Name             string         `json:"name"`
	Address          master.Address `json:"address"`
	CompanyPrefixLen int            `json:"company_prefix_len"`
}

func (a *api) getSite(w http.ResponseWriter, r *http.Request) error {
	gln, err := glnParam(r)
	if err != nil {
		return err
	}
	site, err := a.Store.Site(r.Context(), gln)
	if err != nil {
		return err
	}
	locs, err := a.Store.Locations(r.Context(), gln)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, struct {
		master.Site
		Locations []master.Location `json:"locations"`
	}{site, orEmpty(locs)})
	return nil
}

func (a *api) putSite(w http.ResponseWriter, r *http.Request) error {
	gln, err := glnParam(r)
	if err != nil {
		return err
	}
	var in siteIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := bodyKey("gln", in.GLN, gln); err != nil {
		return err
	}
	_, err = a.Store.Site(r.Context(), gln)
	created := errors.Is(err, sqldb.ErrNotFound)
	if err != nil && !created {
		return err
	}
	if err := a.Store.PutSite(r.Context(), master.Site{GLN: gln, Name: in.Name, Address: in.Address, CompanyPrefixLen: in.CompanyPrefixLen}); err != nil {
		return err
	}
	site, err := a.Store.Site(r.Context(), gln)
	if err != nil {
		return err
	}
	httpjson.Write(w, createdOr(created), site)
	return nil
}

func (a *api) listLocations(w http.ResponseWriter, r *http.Request) error {
	gln, err := glnParam(r)
	if err != nil {
		return err
	}
	if _, err := a.Store.Site(r.Context(), gln); err != nil {
		return err
	}
	locs, err := a.Store.Locations(r.Context(), gln)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"locations": orEmpty(locs)})
	return nil
}

type locationIn struct {
	SiteGLN string `json:"site_gln"`
	Name    string `json:"name"`
	// Address is the location's when it differs from its site's.
	Address master.Address `json:"address"`
}

func (a *api) putLocation(w http.ResponseWriter, r *http.Request) error {
	gln, err := glnParam(r)
	if err != nil {
		return err
	}
	ext := r.PathValue("extension")
	var in locationIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.SiteGLN == "" {
		return invalid("site_gln", "missing; a location belongs to a site")
	}
	if _, err := a.Store.Site(r.Context(), in.SiteGLN); errors.Is(err, sqldb.ErrNotFound) {
		return invalid("site_gln", "no site with GLN %s; create it first", in.SiteGLN)
	} else if err != nil {
		return err
	}
	locs, err := a.Store.Locations(r.Context(), in.SiteGLN)
	if err != nil {
		return err
	}
	created := true
	for _, l := range locs {
		if l.GLN == gln && l.Extension == ext {
			created = false
		}
	}
	l := master.Location{GLN: gln, Extension: ext, SiteGLN: in.SiteGLN, Name: in.Name, Address: in.Address}
	if err := a.Store.PutLocation(r.Context(), l); err != nil {
		return err
	}
	locs, err = a.Store.Locations(r.Context(), in.SiteGLN)
	if err != nil {
		return err
	}
	for _, saved := range locs {
		if saved.GLN == gln && saved.Extension == ext {
			l = saved
		}
	}
	httpjson.Write(w, createdOr(created), l)
	return nil
}

// --- lines ---

type lineIn struct {
	ID      string `json:"id"`
	SiteGLN string `json:"site_gln"`
	Name    string `json:"name"`
	// ReadPoint is the line's SGLN for its EPCIS events (optional).
	ReadPoint string `json:"read_point"`
	// MQTTPassword is the edge's broker password; stored only as a hash.
	// Leave it out to keep the current one, or to have one generated for a
	// new line (returned once).
	MQTTPassword *string `json:"mqtt_password"`
}

type lineOut struct {
	master.Line
	HasPassword bool `json:"has_password"`
	// MQTTPassword is set only in the response that generated it.
	MQTTPassword string `json:"mqtt_password,omitempty"`
	// Status is the line's last status with when central received it.
	Status *ingest.LineStatus `json:"status,omitempty"`
}

func (a *api) lineOut(l master.Line, statuses map[string]ingest.LineStatus) lineOut {
	o := lineOut{Line: l, HasPassword: l.PasswordHash != ""}
	if st, ok := statuses[l.ID]; ok {
		o.Status = &st
	}
	return o
}

func (a *api) statuses() map[string]ingest.LineStatus {
	if a.Statuses == nil {
		return nil
	}
	return a.Statuses.Statuses()
}

func (a *api) listLines(w http.ResponseWriter, r *http.Request) error {
	lines, err := a.Store.Lines(r.Context())
	if err != nil {
		return err
	}
	st := a.statuses()
	out := make([]lineOut, 0, len(lines))
	for _, l := range lines {
		out = append(out, a.lineOut(l, st))
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"lines": out})
	return nil
}

func (a *api) getLine(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := wire.ValidateLine(id); err != nil {
		return badParam("id", "%v", err)
	}
	l, err := a.Store.Line(r.Context(), id)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, a.lineOut(l, a.statuses()))
	return nil
}

func (a *api) putLine(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := wire.ValidateLine(id); err != nil {
		return badParam("id", "%v", err)
	}
	var in lineIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := bodyKey("id", in.ID, id); err != nil {
		return err
	}
	before, err := a.Store.Line(r.Context(), id)
	created := errors.Is(err, sqldb.ErrNotFound)
	if err != nil && !created {
		return err
	}
	if in.SiteGLN != "" {
		if _, err := a.Store.Site(r.Context(), in.SiteGLN); errors.Is(err, sqldb.ErrNotFound) {
			return invalid("site_gln", "no site with GLN %s; create it first", in.SiteGLN)
		} else if err != nil {
			return err
		}
	}
	l := master.Line{ID: id, SiteGLN: in.SiteGLN, Name: in.Name, ReadPoint: in.ReadPoint, PasswordHash: before.PasswordHash}
	var generated string
	switch {
	case in.MQTTPassword != nil:
		if err := auth.CheckPassword(*in.MQTTPassword); err != nil {
			return invalid("mqtt_password", "mqtt_password %v", err)
		}
		if l.PasswordHash, err = auth.HashPassword(*in.MQTTPassword); err != nil {
			return err
		}
	case created:
		generated = auth.GeneratePassword()
		if l.PasswordHash, err = auth.HashPassword(generated); err != nil {
			return err
		}
	}
	if err := a.Store.PutLine(r.Context(), l); err != nil {
		return err
	}
	saved, err := a.Store.Line(r.Context(), id)
	if err != nil {
		return err
	}
	a.log.Info("line saved", "line", id, "created", created, "password_changed", in.MQTTPassword != nil || generated != "")
	out := a.lineOut(saved, a.statuses())
	out.MQTTPassword = generated
	httpjson.Write(w, createdOr(created), out)
	return nil
}

// --- trading partners ---

type partnerIn struct {
	GLN              string            `json:"gln"`
	Name             string            `json:"name"`
	Address          master.Address    `json:"address"`
	Licences         map[string]string `json:"licences"`
	EPCISVersion     string            `json:"epcis_version"`
	CompanyPrefixLen int               `json:"company_prefix_len"`
}

func (a *api) getPartner(w http.ResponseWriter, r *http.Request) error {
	gln, err := glnParam(r)
	if err != nil {
		return err
	}
	p, err := a.Store.Partner(r.Context(), gln)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, p)
	return nil
}

func (a *api) putPartner(w http.ResponseWriter, r *http.Request) error {
	gln, err := glnParam(r)
	if err != nil {
		return err
	}
	var in partnerIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := bodyKey("gln", in.GLN, gln); err != nil {
		return err
	}
	_, err = a.Store.Partner(r.Context(), gln)
	created := errors.Is(err, sqldb.ErrNotFound)
	if err != nil && !created {
		return err
	}
	if err := a.Store.PutPartner(r.Context(), master.Partner{GLN: gln, Name: in.Name, Address: in.Address, Licences: in.Licences,
		EPCISVersion: in.EPCISVersion, CompanyPrefixLen: in.CompanyPrefixLen}); err != nil {
		return err
	}
	p, err := a.Store.Partner(r.Context(), gln)
	if err != nil {
		return err
	}
	httpjson.Write(w, createdOr(created), p)
	return nil
}

func createdOr(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// orEmpty makes a nil slice an empty JSON array.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
