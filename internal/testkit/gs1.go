package testkit

import (
	"testing"

	"github.com/serialine/serialine/shared/gs1"
	"github.com/stretchr/testify/require"
)

// WithCheckDigit appends the GS1 check digit to digits (a GTIN, GLN or SSCC
// without its last digit).
func WithCheckDigit(tb testing.TB, digits string) string {
	tb.Helper()
	c, err := gs1.CheckDigit(digits)
	require.NoError(tb, err)
	return digits + string(c)
}

// GLN returns the 13-digit GLN made of twelve digits and their check digit.
func GLN(tb testing.TB, twelve string) string {
	tb.Helper()
	require.Len(tb, twelve, 12, "GLN without check digit")
	return WithCheckDigit(tb, twelve)
}

// SSCC returns the SSCC of extension digit ext, company prefix and serial
// reference ref.
func SSCC(tb testing.TB, ext int, prefix string, ref uint64) string {
	tb.Helper()
	s, err := gs1.NewSSCC(ext, prefix, ref)
	require.NoError(tb, err)
	return string(s)
}

// NDC returns the US National Drug Code (5-3-2) carried in a test GTIN-14
// whose digits 4..13 are the NDC, as the fixtures' products are made.
func NDC(gtin string) string { return gtin[3:8] + "-" + gtin[8:11] + "-" + gtin[11:13] }
