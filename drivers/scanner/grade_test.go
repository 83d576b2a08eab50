package scanner

import (
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestParseGrade(t *testing.T) {
	tests := []struct {
		in   string
		want Grade
		err  string
	}{
		{in: "A", want: GradeA}, {in: "B", want: GradeB}, {in: "C", want: GradeC}, {in: "D", want: GradeD}, {in: "F", want: GradeF},
		{in: "4", want: GradeA}, {in: "3", want: GradeB}, {in: "2", want: GradeC}, {in: "1", want: GradeD}, {in: "0", want: GradeF},
		{in: "E", err: "ISO/IEC 15415 has no grade E"},
		{in: "a", err: `grade "a": want one of A, B, C, D, F`},
		{in: "5", err: `grade "5"`},
		{in: "", err: `grade ""`},
		{in: "AB", err: `grade "AB"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			g, err := ParseGrade(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, g)
		})
	}
}

func TestGradeOrderAndNames(t *testing.T) {
	order := []Grade{GradeA, GradeB, GradeC, GradeD, GradeF}
	for i, g := range order {
		require.True(t, g.Valid(), g.String())
		require.Equal(t, 4-i, g.Number())
		require.Equal(t, string(rune(g)), g.String())
		for j, h := range order {
			require.Equal(t, j < i, g.Worse(h), "%v worse than %v", g, h)
		}
	}
	require.False(t, GradeNone.Valid())
	require.Equal(t, "none", GradeNone.String())
	require.True(t, GradeNone.Worse(GradeF))
	require.False(t, Grade('E').Valid())
	require.False(t, Grade('4').Valid(), "digits are parsed, not stored")
}

func TestGradeYAML(t *testing.T) {
	var v struct {
		G Grade `yaml:"g"`
		N Grade `yaml:"n"`
		Z Grade `yaml:"z"`
	}
	require.NoError(t, yaml.Unmarshal([]byte("g: D\nn: 3\nz: none\n"), &v))
	require.Equal(t, GradeD, v.G)
	require.Equal(t, GradeB, v.N)
	require.Equal(t, GradeNone, v.Z)
	require.ErrorContains(t, yaml.Unmarshal([]byte("g: E\n"), &v), "no grade E")

	out, err := yaml.Marshal(v)
	require.NoError(t, err)
	require.Contains(t, string(out), "g: D")
	_, err = Grade('Q').MarshalText()
	require.Error(t, err)
}
