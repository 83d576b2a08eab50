package gs1

import "fmt"

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// isCSET82Byte reports whether c belongs to GS1 AI encodable character set 82:
// digits, letters and ! " % & ' ( ) * + , - . / : ; < = > ? _ (no space).
func isCSET82Byte(c byte) bool {
	switch {
	case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return true
	}
	switch c {
	case '!', '"', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', ':', ';', '<', '=', '>', '?', '_':
		return true
	}
	return false
}

// IsCSET82 reports whether every character of s is in GS1 AI encodable
// character set 82 (GenSpec figure 7.11-1). The empty string is.
func IsCSET82(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isCSET82Byte(s[i]) {
			return false
		}
	}
	return true
}

// ValidateCSET82 returns a RuleCharset *Error naming ai and the first
// character of v outside CSET 82, or nil.
func ValidateCSET82(ai, v string) error {
	if i := firstNonCSET82(v); i >= 0 {
		return newErr(ai, v, RuleCharset, charDetail(v, i, "is not in CSET 82"))
	}
	return nil
}

func firstNonCSET82(v string) int {
	for i := 0; i < len(v); i++ {
		if !isCSET82Byte(v[i]) {
			return i
		}
	}
	return -1
}

func firstNonDigit(v string) int {
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return i
		}
	}
	return -1
}

// charDetail describes the byte at position i (shown 1-based) of v.
func charDetail(v string, i int, what string) string {
	c := v[i]
	if c == ' ' {
		return fmt.Sprintf("space at position %d %s", i+1, what)
	}
	if c >= 0x21 && c < 0x7f {
		return fmt.Sprintf("character %q at position %d %s", rune(c), i+1, what)
	}
	return fmt.Sprintf("byte 0x%02X at position %d %s", c, i+1, what)
}
