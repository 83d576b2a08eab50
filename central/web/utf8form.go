package web

import (
	"fmt"
	"net/http"
	"slices"
	"unicode/utf8"
)

// formUTF8 refuses a form with a value (or a field name) that is not
// valid UTF-8, naming the field: "%FF" decodes to a byte no text may hold,
// and a name stored with it shows as garbage (or as U+FFFD) everywhere.
// Fields are checked in name order, so the error is the same every time.
func formUTF8(r *http.Request) error {
	var keys []string
	for _, vs := range []map[string][]string{r.Form, r.PostForm} {
		for k := range vs {
			keys = append(keys, k)
		}
	}
	if r.MultipartForm != nil {
		for k := range r.MultipartForm.Value {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if !utf8.ValidString(k) {
			return fmt.Errorf("a field name (%q) is not valid UTF-8", k)
		}
		vals := slices.Concat(r.Form[k], r.PostForm[k])
		if r.MultipartForm != nil {
			vals = append(vals, r.MultipartForm.Value[k]...)
		}
		for _, v := range vals {
			if !utf8.ValidString(v) {
				return fmt.Errorf("field %s is not valid UTF-8; send the form as UTF-8", k)
			}
		}
	}
	return nil
}
