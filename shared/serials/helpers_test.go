package serials_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/serials"
)

// testKey is a fixed 128-bit secret: pinned serials depend on it.
const testKey = "000102030405060708090a0b0c0d0e0f"

func mustNew(tb testing.TB, s serials.Spec) serials.Scheme {
	tb.Helper()
	sch, err := serials.New(s)
	require.NoError(tb, err, "spec %v", s)
	return sch
}

func serialOf(tb testing.TB, s serials.Scheme, counter uint64) string {
	tb.Helper()
	b, err := s.Serial(nil, counter)
	require.NoError(tb, err, "counter %d", counter)
	return string(b)
}
