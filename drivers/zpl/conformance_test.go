package zpl

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

// conformanceFields are valid GS1 units (validate-gs1 checks them) with CSET
// 82 punctuation in the lot and serial, and text that needs ^FH. No "_" in
// the symbol data: the emulator does not resolve the doubled escape (see
// README).
func conformanceFields() []Fields {
	return []Fields{
		{
			Data: gs1("0109506000134352172812311012345A", "21SN0000000001"),
			Text: []string{"GTIN 09506000134352", "LOT 12345A", "EXP 2028-12-31", "SN SN0000000001", "Brand^Name~Forte"},
		},
		{
			Data: gs1(`010030012345678517270600`+`10L"%&'()*+`, `21,-./:;<=>?!`),
			Text: []string{"NDC 0123-4567-85", `LOT L"%&'()*+`, "EXP 2027-06-00", `SN ,-./:;<=>?!`, `back\slash ~1 ^FS`},
		},
	}
}

// decodedSymbol is the part of `decode-dm --json` the tests check.
type decodedSymbol struct {
	GS1     bool   `json:"gs1"`
	DataHex string `json:"dataHex"`
}

// renderAndDecode renders a ZPL file with the independent emulator (lint
// enforced), has every symbol decoded and GS1-validated, and returns each
// label's symbol data.
//
// render-zpl --decode cross-checks zxing with libdmtx, which takes seconds
// per label (about 7 s at 24 dpmm). The cross-check runs at 8 dpmm; at the
// other resolutions (crossCheck false) zxing alone decodes and validates, to
// keep the package's tests within seconds.
func renderAndDecode(tb testing.TB, l Layout, zpl []byte, labels int, crossCheck bool) [][]byte {
	tb.Helper()
	dir := tb.TempDir()
	file := filepath.Join(dir, "label.zpl")
	require.NoError(tb, os.WriteFile(file, zpl, 0o600))
	prefix := filepath.Join(dir, "out")
	mm := func(dots int) string { return strconv.FormatFloat(float64(dots)/float64(l.DPMM), 'f', 3, 64) }
	args := []string{"--width-mm", mm(l.WidthDots), "--height-mm", mm(l.HeightDots), "--dpmm", strconv.Itoa(l.DPMM),
		"--out", prefix, "--lint-fail", file}
	if crossCheck {
		args = append([]string{"--decode"}, args...)
	}
	out, code := testkit.RunValidator(tb, "render-zpl", args...)
	require.Equal(tb, 0, code, "render-zpl %v:\n%s\nZPL:\n%s", args, out, zpl)
	require.NotContains(tb, out, "LINT")

	var data [][]byte
	for i := 1; i <= labels; i++ {
		png := prefix + "-" + strconv.Itoa(i) + ".png"
		decodeArgs := []string{"--json", "--require-gs1", "--no-dmtx", png}
		if !crossCheck {
			decodeArgs = append([]string{"--validate"}, decodeArgs...)
		}
		out, code := testkit.RunValidator(tb, "decode-dm", decodeArgs...)
		require.Equal(tb, 0, code, "decode-dm %s:\n%s", png, out)
		var res struct {
			Decoded bool            `json:"decoded"`
			Symbols []decodedSymbol `json:"symbols"`
		}
		line := out[strings.Index(out, "{"):]
		require.NoError(tb, json.Unmarshal([]byte(strings.SplitN(line, "\n", 2)[0]), &res), out)
		require.True(tb, res.Decoded)
		require.Len(tb, res.Symbols, 1)
		require.True(tb, res.Symbols[0].GS1, "symbol is not GS1 (FNC1 first)")
		b, err := hex.DecodeString(strings.ReplaceAll(res.Symbols[0].DataHex, " ", ""))
		require.NoError(tb, err)
		data = append(data, b)
	}
	_, err := os.Stat(prefix + "-" + strconv.Itoa(labels+1) + ".png")
	require.ErrorIs(tb, err, os.ErrNotExist, "more labels rendered than expected")
	return data
}

func TestConformanceStandalone(t *testing.T) {
	testkit.ValidatorsBin(t)
	fields := conformanceFields()
	for i, dpmm := range []int{6, 8, 12, 24} {
		f := fields[i%len(fields)]
		t.Run(strconv.Itoa(dpmm)+"dpmm", func(t *testing.T) {
			l := DefaultLayout(dpmm)
			require.NoError(t, l.Validate())
			require.NoError(t, l.ValidateFields(f))
			got := renderAndDecode(t, l, l.Standalone(f), 1, dpmm == 8)
			require.Equal(t, f.Data, string(got[0]))
		})
	}
}

func TestConformanceFormatAndRecall(t *testing.T) {
	testkit.ValidatorsBin(t)
	l := DefaultLayout(8)
	fields := conformanceFields()
	zpl := l.Format()
	for _, f := range fields {
		zpl = l.AppendRecall(zpl, f)
	}
	// Storing the format prints nothing; each recall prints one label.
	got := renderAndDecode(t, l, zpl, len(fields), true)
	for i, f := range fields {
		require.Equal(t, f.Data, string(got[i]), "label %d", i+1)
	}
}
