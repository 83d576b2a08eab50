package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
)

// TestFormInvalidUTF8: a form value that decodes to bytes that are not
// UTF-8 (Latin-1 "%E9" for é) is refused with 400 naming the field, and
// nothing is saved (issue 17, finding 9).
func TestFormInvalidUTF8(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn("pat", auth.RolePlanner)
	for _, form := range []url.Values{
		{"gln": {"9506000000015"}, "name": {"Caf\xe9 Pharma"}},
		{"gln": {"9506000000015"}, "name": {"Pharma"}, "address.city": {"K\xf6ln"}},
	} {
		r := c.post("/partners", form, true)
		require.Equal(t, http.StatusBadRequest, r.status, r.body)
		bad := "name"
		if form.Get("address.city") != "" {
			bad = "address.city"
		}
		require.Contains(t, r.body, "field "+bad+" is not valid UTF-8")
		_, err := e.s.Partner(e.ctx, "9506000000015")
		require.Error(t, err, "nothing saved")
	}
	r := c.post("/partners", url.Values{"gln": {"9506000000015"}, "name": {"Café Pharma"}}, true)
	require.False(t, strings.HasPrefix(r.body, "Bad form"), r.body)
	require.Less(t, r.status, 400, r.body)
}
