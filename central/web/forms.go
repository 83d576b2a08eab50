package web

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/serials"
)

// storeError puts a refusal of the store next to the field it concerns:
// a *sqldb.ValidationError names its field; a missing referenced record
// belongs to notFound, a clash to conflict, a wrong state to the whole
// form. It reports false for errors that are central's fault, not the
// input's.
func storeError(f *form, err error, notFound, conflict string) bool {
	var ve *sqldb.ValidationError
	switch {
	case errors.As(err, &ve):
		f.SetError(ve.Field, ve.Rule)
	case errors.Is(err, sqldb.ErrNotFound) && notFound != "":
		f.SetError(notFound, plain(err))
	case errors.Is(err, sqldb.ErrConflict) && conflict != "":
		f.SetError(conflict, plain(err))
	case errors.Is(err, sqldb.ErrConflict), errors.Is(err, sqldb.ErrState), errors.Is(err, sqldb.ErrExhausted),
		errors.Is(err, sqldb.ErrNotFound), errors.Is(err, sqldb.ErrInvalid):
		f.Problem = plain(err)
	default:
		return false
	}
	return true
}

// plain is an error message for a person: the store's errors already
// name the record and the rule.
func plain(err error) string {
	var ge *gs1.Error
	if errors.As(err, &ge) {
		return ge.Error()
	}
	var se *serials.SpecError
	if errors.As(err, &se) {
		return se.Rule
	}
	s := err.Error()
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

// uintField reads a whole number ≥ min; empty is 0 unless required.
func uintField(f *form, name string, required bool, min uint64) uint64 {
	v := f.Get(name)
	if v == "" {
		if required {
			f.SetError(name, "Missing.")
		}
		return 0
	}
	n, err := strconv.ParseUint(strings.ReplaceAll(v, ",", ""), 10, 64)
	if err != nil {
		f.SetError(name, "Must be a whole number, got "+strconv.Quote(v)+".")
		return 0
	}
	if n < min {
		f.SetError(name, "Must be at least "+strconv.FormatUint(min, 10)+".")
	}
	return n
}

func required(f *form, name string) string {
	v := f.Get(name)
	if v == "" {
		f.SetError(name, "Missing.")
	}
	return v
}

// expiryField reads an expiry date from the date picker (YYYY-MM-DD; with
// name+"_month_end" ticked only the month is printed: DD 00, the month's
// last day) or typed as YYMMDD, and returns it as YYMMDD, the form of AI
// 17. A typed YYMMDD is shown back in the picker's form.
func expiryField(f *form, name string) string {
	v := f.Get(name)
	if v == "" {
		f.SetError(name, "Missing.")
		return ""
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		yymmdd := t.Format("060102")
		if f.Get(name+"_month_end") == "yes" {
			yymmdd = yymmdd[:4] + "00"
		}
		if exp, err := gs1.ExpiryTime(yymmdd); err != nil || exp.Year() != t.Year() {
			f.SetError(name, fmt.Sprintf("The year %d is too far from today for a two-digit year (YYMMDD).", t.Year()))
			return ""
		}
		return yymmdd
	}
	if len(v) != 6 || strings.Trim(v, "0123456789") != "" {
		f.SetError(name, "Choose a date, or write it as YYMMDD; got "+strconv.Quote(v)+".")
		return ""
	}
	if err := gs1.ValidateDate("17", v, true); err != nil {
		f.SetError(name, plain(err))
		return ""
	}
	if exp, err := gs1.ExpiryTime(v); err == nil {
		f.Values.Set(name, exp.Format(time.DateOnly))
		if v[4:] == "00" {
			f.Values.Set(name+"_month_end", "yes")
		}
	}
	return v
}
