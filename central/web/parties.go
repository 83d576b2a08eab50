package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
)

// The parties pages keep our sites and the trading partners with their
// structured addresses (street, city, state, postal code, country: what
// DSCSA master data carries), and a partner's EPCIS version.

type partiesData struct {
	Sites    []master.Site
	Partners []master.Partner
}

func (h *handler) partiesPage(w http.ResponseWriter, r *http.Request) {
	var d partiesData
	var err error
	if d.Sites, err = h.deps.Store.Sites(r.Context()); err != nil {
		h.serverError(w, r, "list the sites", err)
		return
	}
	if d.Partners, err = h.deps.Store.Partners(r.Context()); err != nil {
		h.serverError(w, r, "list the partners", err)
		return
	}
	h.render(w, r, http.StatusOK, "parties", "Sites and partners", "parties", d)
}

// partyLabels names the party form's fields, in their order.
var partyLabels = []fieldLabel{
	{"gln", "GLN"}, {"name", "Name"}, {"address.street", "Street"}, {"address.city", "City"}, {"address.state", "State"},
	{"address.postal_code", "Postal code"}, {"address.country", "Country"}, {"company_prefix_len", "GS1 Company Prefix length"},
	{"epcis_version", "EPCIS version"},
}

type partyData struct {
	// Kind is "site" or "partner".
	Kind     string
	Form     *form
	New      bool
	Versions []option
}

func addressValues(f *form, a master.Address) {
	f.Values.Set("address.street", a.Street)
	f.Values.Set("address.city", a.City)
	f.Values.Set("address.state", a.State)
	f.Values.Set("address.postal_code", a.PostalCode)
	f.Values.Set("address.country", a.Country)
}

func addressOf(f *form) master.Address {
	return master.Address{Street: f.Get("address.street"), City: f.Get("address.city"), State: f.Get("address.state"),
		PostalCode: f.Get("address.postal_code"), Country: f.Get("address.country")}
}

func versions() []option {
	return []option{{master.EPCIS12, "EPCIS 1.2 (GS1 US DSCSA guideline)"}, {master.EPCIS20, "EPCIS 2.0"}}
}

func (h *handler) partyPage(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		gln := r.PathValue("gln")
		f := newForm(nil).withLabels(partyLabels)
		d := partyData{Kind: kind, Form: f, Versions: versions(), New: gln == "new"}
		title := "New " + kind
		if !d.New {
			var err error
			var name string
			var a master.Address
			var prefix int
			if kind == "site" {
				var s master.Site
				s, err = h.deps.Store.Site(r.Context(), gln)
				name, a, prefix = s.Name, s.Address, s.CompanyPrefixLen
			} else {
				var p master.Partner
				p, err = h.deps.Store.Partner(r.Context(), gln)
				name, a, prefix = p.Name, p.Address, p.CompanyPrefixLen
				f.Values.Set("epcis_version", p.EPCISVersion)
			}
			if errors.Is(err, sqldb.ErrNotFound) {
				h.fail(w, r, http.StatusNotFound, "No such "+kind, "There is no "+kind+" with GLN "+gln+".")
				return
			}
			if err != nil {
				h.serverError(w, r, "read the "+kind, err)
				return
			}
			f.Values.Set("gln", gln)
			f.Values.Set("name", name)
			addressValues(f, a)
			if prefix > 0 {
				f.Values.Set("company_prefix_len", strconv.Itoa(prefix))
			}
			title = name
		} else if kind == "partner" {
			f.Values.Set("epcis_version", master.EPCIS12)
		}
		h.render(w, r, http.StatusOK, "party", title, "parties", d)
	}
}

// saveParty creates or updates a site or partner from the form; every
// field's rule is the store's, shown next to the field.
func (h *handler) saveParty(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f := newForm(r.PostForm).withLabels(partyLabels)
		gln, name := required(f, "gln"), required(f, "name")
		prefix := int(min(uintField(f, "company_prefix_len", false, 0), 99))
		var err error
		if f.Valid() {
			if kind == "site" {
				err = h.deps.Store.PutSite(r.Context(), master.Site{GLN: gln, Name: name, Address: addressOf(f), CompanyPrefixLen: prefix})
			} else {
				var p master.Partner
				p, err = h.deps.Store.Partner(r.Context(), gln)
				if errors.Is(err, sqldb.ErrNotFound) {
					p, err = master.Partner{GLN: gln}, nil
				}
				if err == nil {
					p.Name, p.Address, p.CompanyPrefixLen, p.EPCISVersion = name, addressOf(f), prefix, f.Get("epcis_version")
					err = h.deps.Store.PutPartner(r.Context(), p)
				}
			}
			if err == nil {
				h.log.Info(kind+" saved", "gln", gln, "user", userName(r))
				http.Redirect(w, r, "/"+kind+"s/"+url.PathEscape(gln)+"?ok=saved", http.StatusSeeOther)
				return
			}
			if !storeError(f, err, "", "") {
				h.serverError(w, r, "save the "+kind, err)
				return
			}
		}
		h.render(w, r, http.StatusUnprocessableEntity, "party", "Save "+kind, "parties",
			partyData{Kind: kind, Form: f, Versions: versions(), New: r.PostForm.Get("new") == "yes"})
	}
}
