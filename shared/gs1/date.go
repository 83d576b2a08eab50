package gs1

import (
	"fmt"
	"strconv"
	"time"
)

// fullYear resolves a two-digit year per GenSpec 7.12: relative to the
// current year, a YY 51 to 99 years ahead is in the previous century, one 50
// to 99 years behind in the next century, any other in the current century.
func fullYear(yy, nowYear int) int {
	cur := nowYear % 100
	century := nowYear - cur
	switch diff := yy - cur; {
	case diff >= 51:
		return century - 100 + yy
	case diff <= -50:
		return century + 100 + yy
	}
	return century + yy
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func two(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }

// checkYYMMDD checks six digits as a date; it returns "" when valid, else
// what is wrong. allow00 permits DD=00 (unspecified day).
func checkYYMMDD(v string, allow00 bool, nowYear int) string {
	mm, dd := two(v[2:4]), two(v[4:6])
	if mm < 1 || mm > 12 {
		return "month " + v[2:4] + " does not exist"
	}
	if dd == 0 {
		if allow00 {
			return ""
		}
		return "day 00 is not allowed here"
	}
	year := fullYear(two(v[0:2]), nowYear)
	if n := daysIn(year, time.Month(mm)); dd > n {
		return fmt.Sprintf("day %s does not exist in %s %d", v[4:6], time.Month(mm), year)
	}
	return ""
}

// ValidateDate checks yymmdd as the date of ai, returning a *Error naming ai
// (RuleLength, RuleNumeric or RuleDate) or nil. allowDay00 permits DD=00,
// which GS1 allows for AIs 11, 12, 13, 15, 16 and 17 and means "end of
// month" for an expiry. The century follows GenSpec 7.12's sliding window
// around the current year, which decides whether 29 February exists.
func ValidateDate(ai, yymmdd string, allowDay00 bool) error {
	if err := validateDate(ai, yymmdd, allowDay00, time.Now().Year()); err != nil {
		return err
	}
	return nil
}

func validateDate(ai, v string, allow00 bool, nowYear int) *Error {
	if len(v) != 6 {
		return newErr(ai, v, RuleLength, "a date is 6 digits YYMMDD, got "+strconv.Itoa(len(v)))
	}
	if i := firstNonDigit(v); i >= 0 {
		return newErr(ai, v, RuleNumeric, charDetail(v, i, "is not a digit"))
	}
	if d := checkYYMMDD(v, allow00, nowYear); d != "" {
		return newErr(ai, v, RuleDate, d)
	}
	return nil
}

// ExpiryTime returns the expiry date yymmdd (AI 17) denotes, at 00:00 UTC;
// DD=00 means the last day of the month. The pack may be used up to the end
// of that day.
func ExpiryTime(yymmdd string) (time.Time, error) {
	return expiryTime(yymmdd, time.Now().Year())
}

func expiryTime(v string, nowYear int) (time.Time, error) {
	if err := validateDate("17", v, true, nowYear); err != nil {
		return time.Time{}, err
	}
	year := fullYear(two(v[0:2]), nowYear)
	m := time.Month(two(v[2:4]))
	d := two(v[4:6])
	if d == 0 {
		d = daysIn(year, m)
	}
	return time.Date(year, m, d, 0, 0, 0, 0, time.UTC), nil
}
