// Package check holds the field rules central's records share: GTINs,
// names and free text. A rule broken is a *sqldb.ValidationError naming
// the record and the field.
package check

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
)

// MaxText is the longest name or short text a record takes, in bytes.
const MaxText = 256

// GTIN refuses v unless it is a valid GTIN written with 14 digits.
func GTIN(rec, field, v string) error {
	g, err := gs1.ParseGTIN(v)
	if err != nil {
		return sqldb.Invalid(rec, field, "%v", err)
	}
	if string(g) != v {
		return sqldb.Invalid(rec, field, "write the GTIN with 14 digits (%s)", g)
	}
	return nil
}

// Text refuses v unless it is printable and at most MaxText bytes;
// required text needs a visible character.
func Text(rec, field, v string, required bool) error {
	if v == "" {
		if required {
			return sqldb.Invalid(rec, field, "missing")
		}
		return nil
	}
	if required && !HasVisible(v) {
		return sqldb.Invalid(rec, field, "has only blanks or invisible characters; it needs a visible character")
	}
	if len(v) > MaxText {
		return sqldb.Invalid(rec, field, "has %d bytes, at most %d", len(v), MaxText)
	}
	return Printable(rec, field, v)
}

// LongText refuses v unless it is UTF-8 of at most 4×MaxText bytes.
func LongText(rec, field, v string) error {
	if len(v) > 4*MaxText {
		return sqldb.Invalid(rec, field, "has %d bytes, at most %d", len(v), 4*MaxText)
	}
	if !utf8.ValidString(v) {
		return sqldb.Invalid(rec, field, "is not valid UTF-8")
	}
	return nil
}

// Printable refuses invalid UTF-8 and control characters.
func Printable(rec, field, v string) error {
	if !utf8.ValidString(v) {
		return sqldb.Invalid(rec, field, "is not valid UTF-8")
	}
	for i, r := range v {
		if r < ' ' || r == 0x7f {
			return sqldb.Invalid(rec, field, "control character %q at byte %d", r, i+1)
		}
	}
	return nil
}

// IsUpper reports whether s is only the letters A to Z.
func IsUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// IsRoleName reports whether s is only a-z, 0-9 and -.
func IsRoleName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ReadPoint accepts "" or an SGLN: an EPC URI urn:epc:id:sgln:… or a
// GS1 Digital Link URI with a GLN (AI 414, extension 254 optional).
func ReadPoint(s string) error {
	if s == "" {
		return nil
	}
	if strings.HasPrefix(s, "urn:epc:id:sgln:") {
		if _, _, err := gs1.ParseSGLNURI(s); err != nil {
			return err
		}
		return nil
	}
	es, err := gs1.ParseDigitalLink(s)
	if err != nil {
		return fmt.Errorf("%q is neither an SGLN EPC URI (urn:epc:id:sgln:…) nor a GS1 Digital Link URI: %w", s, err)
	}
	if es.Map()["414"] == "" {
		return fmt.Errorf("%q names no GLN (AI 414)", s)
	}
	return nil
}
