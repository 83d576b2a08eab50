package epcisapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/epcisapi"
	"github.com/serialine/serialine/central/store/storetest"
)

// TestCaptureInvalidUTF8: a JSON-LD document with bytes that are not
// UTF-8 was captured with them turned into U+FFFD; it is a 400 naming
// the field (issue 17, finding 9), and so is a query definition.
func TestCaptureInvalidUTF8(t *testing.T) {
	e := newEnv(t, storetest.SQLiteDSN(t))
	doc := strings.Replace(string(objectEvent("", "OBSERVE", "shipping", "in_transit", "urn:epc:id:sgtin:0614141.107346.2017")),
		`"action":"OBSERVE"`, `"action":"OBSERVE","example:note":"caf`+"\xe9"+`"`, 1)
	doc = strings.Replace(doc, `"@context":[`, `"@context":[{"example":"https://ns.example.com/epcis/"},`, 1)
	r := e.do(t, auth.RolePlanner, "POST", "/epcis/capture", []byte(doc), "Content-Type", "application/ld+json")
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	var p epcisapi.Problem
	require.NoError(t, json.Unmarshal(r.body, &p))
	require.Contains(t, p.Title, "epcisBody.eventList[0].example:note is not valid UTF-8")

	r = e.do(t, auth.RolePlanner, "POST", "/epcis/queries", []byte("{\"name\": \"q\xff\", \"query\": {}}"), "Content-Type", "application/json")
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "name is not valid UTF-8")
}
