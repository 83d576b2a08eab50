// Package utf8json finds invalid UTF-8 in a JSON document and names the
// field that holds it. encoding/json replaces such bytes with U+FFFD
// without a word, so a name or lot sent in Latin-1 would be stored
// altered; a service checks the raw body first and refuses it instead.
package utf8json

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error says where the first invalid byte is: Offset in the body, and
// Field, the JSON path of the value or key holding it ("name",
// "lines[2].lot"; "" for the document itself or when the JSON is broken
// before it).
type Error struct {
	Field  string
	Offset int
	// Key is true when the invalid byte is in an object's key (Field is
	// then the object's path).
	Key bool
}

func (e *Error) Error() string {
	what := "the body"
	switch {
	case e.Key && e.Field != "":
		what = "a key of " + e.Field
	case e.Key:
		what = "a key"
	case e.Field != "":
		what = e.Field
	}
	return fmt.Sprintf("%s is not valid UTF-8 (byte %d of the body); send UTF-8", what, e.Offset+1)
}

// Check returns nil when b is valid UTF-8, else an *Error naming the
// field of the first invalid byte.
func Check(b []byte) error {
	if utf8.Valid(b) {
		return nil
	}
	bad := 0
	for bad < len(b) {
		r, n := utf8.DecodeRune(b[bad:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		bad += n
	}
	field, key := locate(b, bad)
	return &Error{Field: field, Offset: bad, Key: key}
}

// frame is one open object or array on the way to a value.
type frame struct {
	array   bool
	idx     int    // array: elements completed before the current one
	key     string // object: the current key
	wantKey bool   // object: the next string token is a key
}

// locate reads the tokens of b up to the one that holds byte bad and
// returns its path; "" when b is not JSON up to there.
func locate(b []byte, bad int) (field string, key bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var st []frame
	path := func(frames []frame) string {
		var sb strings.Builder
		for _, f := range frames {
			if f.array {
				sb.WriteString("[" + strconv.Itoa(f.idx) + "]")
				continue
			}
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(f.key)
		}
		return sb.String()
	}
	done := func() { // a value of the top frame is complete
		if len(st) == 0 {
			return
		}
		if t := &st[len(st)-1]; t.array {
			t.idx++
		} else {
			t.wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		isKey := len(st) > 0 && !st[len(st)-1].array && st[len(st)-1].wantKey && tok != json.Delim('}')
		if int(dec.InputOffset()) > bad {
			if isKey {
				return path(st[:len(st)-1]), true
			}
			return path(st), false
		}
		switch tok {
		case json.Delim('{'):
			st = append(st, frame{wantKey: true})
			continue
		case json.Delim('['):
			st = append(st, frame{array: true})
			continue
		case json.Delim('}'), json.Delim(']'):
			st = st[:len(st)-1]
			done()
			continue
		}
		if isKey {
			t := &st[len(st)-1]
			t.key, t.wantKey = tok.(string), false
			continue
		}
		done()
	}
}
