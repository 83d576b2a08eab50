package serials_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/serialine/serialine/shared/serials"
)

func TestSpecValidateRules(t *testing.T) {
	const secretKey = "5ec2e75ec2e75ec2e75ec2e75ec2e75e"
	seq := func(length int, start uint64) serials.Spec {
		return serials.Spec{Kind: serials.KindSequential, Length: length, Start: start}
	}
	rnd := func(length int, alphabet string) serials.Spec {
		return serials.Spec{Kind: serials.KindRandomized, Length: length, Alphabet: alphabet, Key: secretKey}
	}
	with := func(s serials.Spec, f func(*serials.Spec)) serials.Spec { f(&s); return s }

	tests := []struct {
		name  string
		spec  serials.Spec
		field string
		rule  string // a part of the rule's text
	}{
		{"kind missing", serials.Spec{Length: 6}, "kind", "missing"},
		{"kind unknown", serials.Spec{Kind: "random", Length: 6}, "kind", `"random" is not a scheme`},
		{"length zero", seq(0, 1), "length", "1 to 20"},
		{"length negative", rnd(-1, ""), "length", "1 to 20"},
		{"length 21", rnd(21, ""), "length", "got 21"},
		{"list length 21", serials.Spec{Kind: serials.KindList, Length: 21}, "length", "0 (any length)"},
		{"alphabet misspelt", rnd(10, "Alphanumeric"), "alphabet", "lower case"},
		{"alphabet one character", rnd(10, "A"), "alphabet", "at least 2 characters"},
		{"alphabet space", rnd(10, "AB C"), "alphabet", "position 3 is not in CSET 82"},
		{"alphabet non-ASCII", rnd(10, "ABé"), "alphabet", "0xC3 at position 3"},
		{"alphabet repeated", rnd(10, "ABCA"), "alphabet", "'A' at position 4 appears twice"},
		{"sequential alphanumeric", with(seq(8, 1), func(s *serials.Spec) { s.Alphabet = "alphanumeric" }), "alphabet", "sequential serials are numeric"},
		{"sgtin96 alphanumeric", with(rnd(10, "alphanumeric"), func(s *serials.Spec) { s.SGTIN96 = true }), "alphabet", "SGTIN-96 serials are numeric"},
		{"sgtin96 list custom", serials.Spec{Kind: serials.KindList, Alphabet: "ABC", SGTIN96: true}, "alphabet", "SGTIN-96 serials are numeric"},
		{"sgtin96 13 digits", with(rnd(13, ""), func(s *serials.Spec) { s.SGTIN96 = true }), "length", "at most 12 digits"},
		{"start too wide", seq(6, 1_000_000), "start", "more than 6 digits"},
		{"start sgtin96 leading zero", with(seq(9, 1), func(s *serials.Spec) { s.SGTIN96 = true }), "start", "no leading zero"},
		{"start sgtin96 beyond max", with(seq(12, 274_877_906_944), func(s *serials.Spec) { s.SGTIN96 = true }), "start", "exceeds 274877906943"},
		{"start on randomized", with(rnd(12, ""), func(s *serials.Spec) { s.Start = 5 }), "start", "only sequential"},
		{"start on list", serials.Spec{Kind: serials.KindList, Start: 1}, "start", "only sequential"},
		{"key missing", with(rnd(12, ""), func(s *serials.Spec) { s.Key = "" }), "key", "missing"},
		{"key not hex", with(rnd(12, ""), func(s *serials.Spec) { s.Key = "zz" + secretKey }), "key", "hex digits"},
		{"key odd length", with(rnd(12, ""), func(s *serials.Spec) { s.Key = secretKey + "a" }), "key", "odd number"},
		{"key too short", with(rnd(12, ""), func(s *serials.Spec) { s.Key = secretKey[:30] }), "key", "has 120 bits, at least 128"},
		{"key all zeros", with(rnd(12, ""), func(s *serials.Spec) { s.Key = strings.Repeat("0", 64) }), "key", "all zeros"},
		{"key on sequential", with(seq(12, 1), func(s *serials.Spec) { s.Key = secretKey }), "key", "only randomized"},
		{"key on list", serials.Spec{Kind: serials.KindList, Key: secretKey}, "key", "only randomized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			var se *serials.SpecError
			require.True(t, errors.As(err, &se), "want *SpecError, got %v", err)
			require.Equal(t, tc.field, se.Field)
			require.Contains(t, se.Rule, tc.rule)
			require.True(t, strings.HasPrefix(err.Error(), "serial scheme: "+tc.field+": "), err.Error())
			require.NotContains(t, err.Error(), secretKey[:8], "errors never quote the key")

			_, err = serials.New(tc.spec)
			require.ErrorAs(t, err, &se, "New validates too")
		})
	}
}

func TestSpecValidateAccepts(t *testing.T) {
	tests := []serials.Spec{
		{Kind: serials.KindSequential, Length: 1},
		{Kind: serials.KindSequential, Length: 12, Start: 1},
		{Kind: serials.KindSequential, Length: 20, Start: 1, Alphabet: "numeric"},
		{Kind: serials.KindSequential, Length: 9, Start: 100_000_000, SGTIN96: true},
		{Kind: serials.KindSequential, Length: 1, SGTIN96: true},
		{Kind: serials.KindSequential, Length: 12, Start: 274_877_906_943, SGTIN96: true},
		{Kind: serials.KindRandomized, Length: 20, Alphabet: "alphanumeric", Key: testKey},
		{Kind: serials.KindRandomized, Length: 20, Alphabet: `!"%&'()*+,-./:;<=>?_`, Key: testKey},
		{Kind: serials.KindRandomized, Length: 12, SGTIN96: true, Key: strings.ToUpper(testKey) + "AB"},
		{Kind: serials.KindList},
		{Kind: serials.KindList, Length: 8, Alphabet: "alphanumeric"},
		{Kind: serials.KindList, Length: 12, SGTIN96: true},
	}
	for _, s := range tests {
		t.Run(s.String(), func(t *testing.T) {
			require.NoError(t, s.Validate())
		})
	}
}

func TestNewListKindNeedsNewList(t *testing.T) {
	_, err := serials.New(serials.Spec{Kind: serials.KindList, Length: 8})
	var se *serials.SpecError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "kind", se.Field)
	require.Contains(t, se.Rule, "NewList")
}

// The key must travel in grants (JSON, YAML) but never reach a log.
func TestSpecCarriesButNeverPrintsKey(t *testing.T) {
	const key = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	s := serials.Spec{Kind: serials.KindRandomized, Length: 12, Alphabet: "numeric", Key: key, SGTIN96: true}

	js, err := json.Marshal(s)
	require.NoError(t, err)
	require.JSONEq(t, `{"kind":"randomized","length":12,"alphabet":"numeric","start":0,"key":"`+key+`","sgtin96":true}`, string(js))
	var back serials.Spec
	require.NoError(t, json.Unmarshal(js, &back))
	require.Equal(t, s, back)

	ym, err := yaml.Marshal(s)
	require.NoError(t, err)
	back = serials.Spec{}
	require.NoError(t, yaml.Unmarshal(ym, &back))
	require.Equal(t, s, back)
	require.Contains(t, string(ym), "sgtin96: true")

	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	log.Info("scheme", "spec", s)
	log.Info("scheme", slog.Any("spec", &s))
	printed := []string{
		logged.String(),
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s),
		fmt.Sprintf("%v %+v", &s, &s),
	}
	for _, out := range printed {
		require.NotContains(t, out, key[:8])
		require.Contains(t, out, "REDACTED")
	}
	require.Contains(t, logged.String(), `"kind":"randomized"`)
}
