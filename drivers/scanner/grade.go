package scanner

import (
	"fmt"
	"strconv"
)

// Grade is an ISO/IEC 15415 overall symbol grade. It is stored as its letter
// (A best, F fail); GradeNone means the reader sent no grade.
type Grade byte

// The ISO/IEC 15415 grades. The standard has no grade E.
const (
	GradeNone Grade = 0
	GradeA    Grade = 'A'
	GradeB    Grade = 'B'
	GradeC    Grade = 'C'
	GradeD    Grade = 'D'
	GradeF    Grade = 'F'
)

// ParseGrade reads a grade written as a letter ("A", "B", "C", "D", "F") or as
// the standard's number ("4" = A, "3" = B, "2" = C, "1" = D, "0" = F).
func ParseGrade(s string) (Grade, error) {
	if len(s) == 1 {
		if g, ok := gradeOf(s[0]); ok {
			return g, nil
		}
	}
	if s == "E" {
		return GradeNone, fmt.Errorf("grade %q: ISO/IEC 15415 has no grade E; use A, B, C, D, F or 4..0", s)
	}
	return GradeNone, fmt.Errorf("grade %q: want one of A, B, C, D, F or 4, 3, 2, 1, 0", s)
}

// gradeOf maps one grade character, letter or digit, to its Grade.
func gradeOf(c byte) (Grade, bool) {
	switch c {
	case 'A', 'B', 'C', 'D', 'F':
		return Grade(c), true
	case '4':
		return GradeA, true
	case '3':
		return GradeB, true
	case '2':
		return GradeC, true
	case '1':
		return GradeD, true
	case '0':
		return GradeF, true
	}
	return GradeNone, false
}

// isGradeChar reports whether c can spell a grade; the grade separator must
// not contain such characters or a line could not be split unambiguously.
func isGradeChar(c byte) bool {
	_, ok := gradeOf(c)
	return ok
}

// Valid reports whether g is one of A, B, C, D, F.
func (g Grade) Valid() bool {
	_, ok := gradeOf(byte(g))
	return ok && g >= 'A'
}

// String returns the letter, or "none" for GradeNone.
func (g Grade) String() string {
	if g == GradeNone {
		return "none"
	}
	if !g.Valid() {
		return "Grade(" + strconv.Itoa(int(g)) + ")"
	}
	return string(rune(g))
}

// Number returns the grade on the standard's 4..0 scale, or -1 for a grade
// that is not valid (GradeNone included).
func (g Grade) Number() int {
	switch g {
	case GradeA:
		return 4
	case GradeB:
		return 3
	case GradeC:
		return 2
	case GradeD:
		return 1
	case GradeF:
		return 0
	}
	return -1
}

// Worse reports whether g is a lower grade than h. A missing grade is worse
// than any valid grade, since nothing vouches for the symbol.
func (g Grade) Worse(h Grade) bool {
	return g.Number() < h.Number()
}

// MarshalText writes the letter; GradeNone is written as an empty string.
func (g Grade) MarshalText() ([]byte, error) {
	if g == GradeNone {
		return []byte{}, nil
	}
	if !g.Valid() {
		return nil, fmt.Errorf("grade %d is not an ISO/IEC 15415 grade", byte(g))
	}
	return []byte{byte(g)}, nil
}

// UnmarshalText reads a grade as ParseGrade does; empty text and "none" give
// GradeNone (a configuration that leaves a grade unset).
func (g *Grade) UnmarshalText(text []byte) error {
	if len(text) == 0 || string(text) == "none" {
		*g = GradeNone
		return nil
	}
	v, err := ParseGrade(string(text))
	if err != nil {
		return err
	}
	*g = v
	return nil
}
