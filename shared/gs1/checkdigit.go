package gs1

// CheckDigit returns the GS1 mod-10 check digit, as the ASCII character
// '0'..'9', for digits: a key without its check digit (GenSpec 7.9.1).
// Weights 3, 1, 3, 1, ... apply from the rightmost digit.
func CheckDigit(digits string) (byte, error) {
	if digits == "" {
		return 0, newErr("", "", RuleLength, "no digits to compute a check digit for")
	}
	if i := firstNonDigit(digits); i >= 0 {
		return 0, newErr("", digits, RuleNumeric, charDetail(digits, i, "is not a digit"))
	}
	return checkDigit(digits), nil
}

// checkDigit assumes digits holds only '0'..'9'.
func checkDigit(digits string) byte {
	sum := 0
	w := 3
	for i := len(digits) - 1; i >= 0; i-- {
		sum += int(digits[i]-'0') * w
		w = 4 - w
	}
	return byte('0' + (10-sum%10)%10)
}

// ValidCheckDigit reports whether number (a whole GS1 key: GTIN, GLN, SSCC,
// ...) is all digits, at least two of them, and ends with its correct check
// digit.
func ValidCheckDigit(number string) bool {
	if len(number) < 2 || !allDigits(number) {
		return false
	}
	return checkDigit(number[:len(number)-1]) == number[len(number)-1]
}

// checkKey checks a numeric key component of an AI.
func checkKey(ai, value, key string) *Error {
	want := checkDigit(key[:len(key)-1])
	if got := key[len(key)-1]; got != want {
		return newErr(ai, value, RuleCheckDigit, "check digit "+string(got)+" is wrong, expected "+string(want))
	}
	return nil
}
