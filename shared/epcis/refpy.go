package epcis

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Python's value formatting as GS1's reference hash generator relies on it:
// float() parsing, str() of ints and floats, and the timestamp rounding of
// _fix_time_stamp_format. Reproduced here so that our pre-hash strings equal
// the reference's byte for byte.

// rePyFloat is the syntax Python's float() accepts (after strip()).
var rePyFloat = regexp.MustCompile(`^[+-]?(?:(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:[eE][+-]?\d(?:_?\d)*)?|(?i:inf|infinity|nan))$`)

// pyStrip is Python's str.strip(): Unicode whitespace plus the ASCII
// separators 0x1c-0x1f.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) })
}

// pyFloat parses s as Python's float() does; ok is false where Python
// raises ValueError.
func pyFloat(s string) (float64, bool) {
	s = pyStrip(s)
	if !rePyFloat.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// errPyOverflow stands for the OverflowError the reference raises on an
// infinite number (the event is then left out of its output).
var errPyOverflow = errors.New("cannot convert an infinite number to an integer")

// pyIntOfFloat is str(int(f)) for a finite integral f: every digit exact.
func pyIntOfFloat(f float64) string {
	if f == 0 {
		return "0"
	}
	i, _ := big.NewFloat(f).Int(nil)
	return i.String()
}

// pyFloatRepr is Python's repr(float): shortest round-trip digits, fixed
// notation for decimal exponents -4 < decpt <= 16, else d.ddde±XX.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, expS, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1
	if decpt <= -4 || decpt > 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es, exp = "-", -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
	}
	switch {
	case decpt <= 0:
		return sign + "0." + strings.Repeat("0", -decpt) + digits
	case decpt >= len(digits):
		return sign + digits + strings.Repeat("0", decpt-len(digits)) + ".0"
	default:
		return sign + digits[:decpt] + "." + digits[decpt:]
	}
}

// pyJSONNumber is str() of the value Python's json module reads from the
// number literal lit: an int for literals without fraction or exponent,
// else a float.
func pyJSONNumber(lit string) string {
	if !strings.ContainsAny(lit, ".eE") {
		var i big.Int
		if _, ok := i.SetString(lit, 10); ok {
			return i.String()
		}
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return lit
	}
	return pyFloatRepr(f)
}

// refNumeric is the reference's _try_format_numeric: a number loses its
// leading "+", leading and trailing zeros; integral values are written as
// integers (exactly, from the binary double); other text is unchanged.
func refNumeric(text string) (string, error) {
	f, ok := pyFloat(text)
	if !ok || math.IsNaN(f) {
		return text, nil
	}
	if math.IsInf(f, 0) {
		return "", fmt.Errorf("%q: %w", text, errPyOverflow)
	}
	if f == math.Trunc(f) {
		return pyIntOfFloat(f), nil
	}
	return pyFloatRepr(f), nil
}

// reISOTime is the ISO 8601 subset read as a time stamp: date, optional time
// with seconds and fraction, optional zone.
var reISOTime = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$`)

// errPyTime stands for the ValueError the reference raises when rounding
// pushes the milliseconds to 1000.
var errPyTime = errors.New("time stamp rounds to 1000 milliseconds")

// refTime is the reference's _fix_time_stamp_format: the instant in UTC,
// microseconds (the first six fraction digits) rounded half to even to
// milliseconds, written YYYY-MM-DDTHH:MM:SS.mmmZ. Text that is not a time
// stamp comes back unchanged; one without zone is local time, as dateutil
// reads it.
func refTime(text string) (string, error) {
	m := reISOTime.FindStringSubmatch(text)
	if m == nil {
		return text, nil
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	y, mo, d, h, mi, sec := num(m[1]), num(m[2]), num(m[3]), num(m[4]), num(m[5]), num(m[6])
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || sec > 59 {
		return text, nil
	}
	micro := 0
	if m[7] != "" {
		frac := (m[7] + "000000")[:6]
		micro = num(frac)
	}
	loc := time.Local
	switch z := m[8]; {
	case z == "Z" || z == "z" || z == "UTC":
		loc = time.UTC
	case z != "":
		zz := strings.ReplaceAll(z[1:], ":", "")
		off := num(zz[:2]) * 3600
		if len(zz) == 4 {
			off += num(zz[2:]) * 60
		}
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, loc).UTC()
	q, r := micro/1000, micro%1000
	if r > 500 || (r == 500 && q%2 == 1) {
		q++
	}
	if q == 1000 {
		return "", fmt.Errorf("%q: %w", text, errPyTime)
	}
	return t.Format("2006-01-02T15:04:05") + fmt.Sprintf(".%03dZ", q), nil
}

// lenientTime rounds a time stamp whose milliseconds round up to 1000 into
// the next second (where the reference gives up).
func lenientTime(text string) string {
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return text
	}
	return t.UTC().Round(time.Millisecond).Format("2006-01-02T15:04:05.000Z")
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
