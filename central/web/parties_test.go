package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
)

// TestPartiesPages: a planner adds a partner with its structured address
// and EPCIS version through the form, a wrong ZIP code is shown next to
// its field with nothing saved, and an auditor reads but cannot save.
func TestPartiesPages(t *testing.T) {
	e := newEnv(t)
	e.seed()
	pl := e.signedIn("paul", auth.RolePlanner)
	r := pl.get("/partners/new")
	require.Equal(t, http.StatusOK, r.status)
	for _, id := range []string{"f-address-street", "f-address-city", "f-address-state", "f-address-postal_code", "f-address-country", "f-epcis_version"} {
		require.True(t, r.has(id), id)
	}
	form := url.Values{"new": {"yes"}, "gln": {"0614141000029"}, "name": {"Acme Wholesale"}, "address.street": {"9 Depot Ave"},
		"address.city": {"Newark"}, "address.state": {"NJ"}, "address.postal_code": {"071"}, "address.country": {"US"}, "epcis_version": {"2.0"},
		"company_prefix_len": {"7"}}
	r = pl.post("/partners", form, true)
	require.Equal(t, http.StatusUnprocessableEntity, r.status)
	require.Contains(t, r.body, `data-field="address.postal_code">a US ZIP code is 5 digits or 5&#43;4`)
	_, err := e.s.Partner(e.ctx, "0614141000029")
	require.ErrorIs(t, err, sqldb.ErrNotFound, "nothing saved")

	form.Set("address.postal_code", "07102")
	r = pl.post("/partners", form, true)
	require.Equal(t, http.StatusSeeOther, r.status, "%s", r.body)
	require.Equal(t, "/partners/0614141000029?ok=saved", r.header.Get("Location"))
	p, err := e.s.Partner(e.ctx, "0614141000029")
	require.NoError(t, err)
	require.Equal(t, master.Address{Street: "9 Depot Ave", City: "Newark", State: "NJ", PostalCode: "07102", Country: "US"}, p.Address)
	require.Equal(t, master.EPCIS20, p.EPCISVersion)
	require.Equal(t, 7, p.CompanyPrefixLen)

	form = url.Values{"new": {"yes"}, "gln": {"0614141000005"}, "name": {"Plant"}, "address.street": {"1 Factory Rd"}, "address.country": {"US"}}
	require.Equal(t, http.StatusSeeOther, pl.post("/sites", form, true).status)

	aud := e.signedIn("ursula", auth.RoleAuditor)
	r = aud.get("/partners")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, "9 Depot Ave, Newark, NJ 07102, US")
	require.Contains(t, r.body, `data-site="0614141000005"`)
	r = aud.get("/partners/0614141000029")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, `value="Newark"`)
	require.NotContains(t, r.body, ">Save<", "an auditor is not offered to save")
	require.Equal(t, http.StatusForbidden, aud.post("/partners", url.Values{"gln": {"0614141000029"}, "name": {"x"}}, true).status)
	require.Equal(t, http.StatusNotFound, aud.get("/partners/0614141000036").status)
}
