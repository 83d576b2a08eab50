package check

import "unicode"

// invisibleLetters are characters Unicode files as letters or symbols
// that render as nothing (Hangul fillers, the braille blank, Khmer
// inherent vowels): a name made of them looks empty.
var invisibleLetters = map[rune]bool{0x115F: true, 0x1160: true, 0x3164: true, 0xFFA0: true, 0x2800: true, 0x17B4: true, 0x17B5: true}

// HasVisible reports whether s has a character a person sees: not a
// space (of any kind), a control or format character (zero-width space,
// joiners, BOM, direction marks) or an invisible letter.
func HasVisible(s string) bool {
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Mn, r) || invisibleLetters[r] {
			continue
		}
		if unicode.IsPrint(r) {
			return true
		}
	}
	return false
}
