package epcisapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Query schedules (QueryScheduleSubscription): like cron, a set of allowed
// values for second, minute, hour, dayOfMonth, month and dayOfWeek (1 is
// Monday, 7 Sunday). Each field is a comma-separated list of numbers,
// ranges "[a-b]" (or "a-b"), "*" and steps "a/n" ("*/n"); an omitted
// second is 0, any other omitted field allows every value. Times are UTC.

// scheduleFields are the fields with their ranges.
var scheduleFields = []struct {
	name     string
	min, max int
}{{"second", 0, 59}, {"minute", 0, 59}, {"hour", 0, 23}, {"dayOfMonth", 1, 31}, {"month", 1, 12}, {"dayOfWeek", 1, 7}}

// schedule holds the allowed values of each field.
type schedule struct {
	sets [6][]bool
}

// parseSchedule reads a schedule; an error names the field.
func parseSchedule(m map[string]string) (schedule, error) {
	var s schedule
	for k := range m {
		known := false
		for _, f := range scheduleFields {
			known = known || f.name == k
		}
		if !known {
			return s, fmt.Errorf("schedule.%s: not one of second, minute, hour, dayOfMonth, month, dayOfWeek", k)
		}
	}
	for i, f := range scheduleFields {
		set := make([]bool, f.max+1)
		spec, ok := m[f.name]
		spec = strings.TrimSpace(spec)
		switch {
		case !ok && f.name == "second":
			spec = "0"
		case !ok || spec == "":
			spec = "*"
		}
		for _, el := range strings.Split(spec, ",") {
			lo, hi, step, err := scheduleElement(strings.TrimSpace(el), f.min, f.max)
			if err != nil {
				return s, fmt.Errorf("schedule.%s: %q: %w", f.name, el, err)
			}
			for v := lo; v <= hi; v += step {
				set[v] = true
			}
		}
		s.sets[i] = set
	}
	return s, nil
}

func scheduleElement(el string, min, max int) (lo, hi, step int, err error) {
	step = 1
	if base, st, ok := strings.Cut(el, "/"); ok {
		if step, err = strconv.Atoi(st); err != nil || step < 1 {
			return 0, 0, 0, fmt.Errorf("step %q is not a whole number from 1", st)
		}
		el = base
		if el != "*" && !strings.ContainsAny(el, "-[") {
			el += "-" + strconv.Itoa(max)
		}
	}
	if el == "*" {
		return min, max, step, nil
	}
	el = strings.TrimSuffix(strings.TrimPrefix(el, "["), "]")
	a, b, isRange := strings.Cut(el, "-")
	if lo, err = strconv.Atoi(a); err != nil {
		return 0, 0, 0, fmt.Errorf("%q is not a number", a)
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, 0, fmt.Errorf("%q is not a number", b)
		}
	}
	if lo < min || hi > max || lo > hi {
		return 0, 0, 0, fmt.Errorf("outside %d to %d", min, max)
	}
	return lo, hi, step, nil
}

// next is the first time after t (in whole seconds, UTC) the schedule
// allows; ok is false when none comes within five years (31 February).
func (s schedule) next(t time.Time) (time.Time, bool) {
	t = t.UTC().Truncate(time.Second).Add(time.Second)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for d := 0; d < 5*366; d++ {
		dd := day.AddDate(0, 0, d)
		dow := int(dd.Weekday())
		if dow == 0 {
			dow = 7
		}
		if !s.sets[4][int(dd.Month())] || !s.sets[3][dd.Day()] || !s.sets[5][dow] {
			continue
		}
		for h := 0; h < 24; h++ {
			if !s.sets[2][h] {
				continue
			}
			for m := 0; m < 60; m++ {
				if !s.sets[1][m] {
					continue
				}
				for sec := 0; sec < 60; sec++ {
					if !s.sets[0][sec] {
						continue
					}
					c := dd.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second)
					if !c.Before(t) {
						return c, true
					}
				}
			}
		}
	}
	return time.Time{}, false
}
