package epcisapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Paging of the binding: perPage and nextPageToken query parameters, and a
// Link header with rel="next" while more follow. A token is where the last
// page ended (a keyset position, so that pages stay put while events are
// added and a page costs the same wherever it is) bound to the query it
// belongs to; it does not expire.

// pageToken is what a nextPageToken carries.
type pageToken struct {
	Query string    `json:"q"`           // fingerprint of the query's other parameters
	ID    int64     `json:"i,omitempty"` // storage position of the last item
	At    time.Time `json:"t,omitzero"`  // its event time (event-time order)
	Value string    `json:"v,omitempty"` // the last value (vocabulary lists)
}

func (t pageToken) encode() string {
	b, _ := json.Marshal(t) // plain fields always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// page is the paging of one request.
type page struct {
	perPage int
	after   *pageToken
	query   string // fingerprint
}

func (p page) afterID() int64 {
	if p.after == nil {
		return 0
	}
	return p.after.ID
}

func (p page) afterValue() string {
	if p.after == nil {
		return ""
	}
	return p.after.Value
}

// fingerprint identifies a query by its parameters other than the paging
// ones (and, for named queries, its name).
func fingerprint(path string, v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		if k != "perPage" && k != "nextPageToken" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	hsh := sha256.New()
	hsh.Write([]byte(path))
	for _, k := range keys {
		fmt.Fprintf(hsh, "\x00%s", k)
		for _, x := range v[k] {
			fmt.Fprintf(hsh, "\x01%s", x)
		}
	}
	return hex.EncodeToString(hsh.Sum(nil))[:16]
}

// paging reads perPage and nextPageToken; on a bad one it answers 400 and
// ok is false. extra holds parameters that define the query besides the
// URL's (a named query's name).
func (h *Handler) paging(w http.ResponseWriter, r *http.Request, extra []string) (page, bool) {
	v := r.URL.Query()
	p := page{perPage: DefaultPerPage, query: fingerprint(r.URL.Path+strings.Join(extra, "\x02"), v)}
	if s := v.Get("perPage"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPerPage {
			writeProblem(w, Problem{Type: "epcisException:QueryParameterException", Status: http.StatusBadRequest, Detail: "perPage",
				Title: fmt.Sprintf("perPage: %q is not a whole number from 1 to %d", s, MaxPerPage)})
			return p, false
		}
		p.perPage = n
	}
	if s := v.Get("nextPageToken"); s != "" {
		var t pageToken
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err == nil {
			err = json.Unmarshal(b, &t)
		}
		if err != nil {
			writeProblem(w, Problem{Type: "epcisException:QueryParameterException", Status: http.StatusBadRequest, Detail: "nextPageToken",
				Title: "nextPageToken: not a token this repository gave (take it from the Link header as it is)"})
			return p, false
		}
		if t.Query != p.query {
			writeProblem(w, Problem{Type: "epcisException:QueryParameterException", Status: http.StatusBadRequest, Detail: "nextPageToken",
				Title: "nextPageToken: it belongs to another query; keep the other parameters as they were on the first page"})
			return p, false
		}
		p.after = &t
	}
	return p, true
}

// link sets the Link header to the next page: the same URL with the new
// token.
func (p page) link(w http.ResponseWriter, r *http.Request, next pageToken) {
	next.Query = p.query
	v := r.URL.Query()
	v.Set("nextPageToken", next.encode())
	if v.Get("perPage") == "" {
		v.Set("perPage", strconv.Itoa(p.perPage))
	}
	w.Header().Set("Link", "<"+r.URL.EscapedPath()+"?"+v.Encode()+`>; rel="next"`)
}
