package gs1_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

// requireRule asserts that err is a *gs1.Error naming ai and rule.
func requireRule(tb testing.TB, err error, ai string, rule gs1.Rule) *gs1.Error {
	tb.Helper()
	require.Error(tb, err)
	var ge *gs1.Error
	require.True(tb, errors.As(err, &ge), "error %v (%T) is not a *gs1.Error", err, err)
	require.Equal(tb, rule, ge.Rule, "rule of %v", err)
	require.Equal(tb, ai, ge.AI, "AI of %v", err)
	return ge
}

// es builds an ElementString from AI, value pairs.
func es(pairs ...string) gs1.ElementString {
	if len(pairs)%2 != 0 {
		panic("es: odd number of arguments")
	}
	out := make(gs1.ElementString, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, gs1.Element{AI: pairs[i], Value: pairs[i+1]})
	}
	return out
}

const gsc = "\x1d"
