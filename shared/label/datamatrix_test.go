package label

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bdm "github.com/boombuler/barcode/datamatrix"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/datamatrix/decoder"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
)

// typicalGS1 is a pack's element string: GTIN, expiry, lot, serial.
const typicalGS1 = "0109506000134352" + "17271231" + "10ABC123\x1d" + "21XYZ1234567890"

// fillData returns data that takes exactly n ASCII codewords (digit pairs),
// so that a symbol of capacity n is full to the last codeword.
func fillData(n int) string {
	return strings.Repeat("0123456789", n/5+1)[:2*n]
}

// toBitMatrix hands a Matrix to gozxing's decoder as module bits.
func toBitMatrix(tb testing.TB, m *Matrix) *gozxing.BitMatrix {
	tb.Helper()
	bm, err := gozxing.NewBitMatrix(m.Cols, m.Rows)
	require.NoError(tb, err)
	for y := 0; y < m.Rows; y++ {
		for x := 0; x < m.Cols; x++ {
			if m.At(x, y) {
				bm.Set(x, y)
			}
		}
	}
	return bm
}

func TestEncodeDataMatrixCodewords(t *testing.T) {
	tests := []struct {
		name string
		data string
		gs1  bool
		want []byte
	}{
		{"GS1: FNC1 first, digit pairs, GS as FNC1", "0109\x1d21A", true, []byte{232, 130 + 1, 130 + 9, 232, 130 + 21, 'A' + 1}},
		{"plain: GS stays a data byte", "A\x1d", false, []byte{'A' + 1, 0x1D + 1}},
		{"odd digit before a letter", "123A", false, []byte{130 + 12, '3' + 1, 'A' + 1}},
		{"byte above 127 behind upper shift", "\xe8x", false, []byte{235, 0xe8 - 128 + 1, 'x' + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeASCII(tt.data, tt.gs1)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestEncodeDataMatrixMatchesBoombuler compares our symbols with
// boombuler/barcode's, module for module. Its encoder turns a leading byte
// 0xE8 into FNC1 and later 0xE8 bytes into separators (encodeText in its
// encoder.go), so the GS1 form is fed to it that way.
func TestEncodeDataMatrixMatchesBoombuler(t *testing.T) {
	tests := []struct {
		name string
		data string
		gs1  bool
	}{
		{"typical GS1 pack", typicalGS1, true},
		{"GS1 with NHRN and odd-length fields", "0105601234000016" + "714" + "5440987\x1d" + "10X\x1d" + "21ABCDEFGHIJ0123456789", true},
		{"plain text", "Serialine line 4, station 2", false},
		{"plain single character", "A", false},
		{"plain with upper shift", "Gr\xfc\xdfe", false},
		{"plain, large (64x64)", fillData(250), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours, err := EncodeDataMatrix(tt.data, tt.gs1)
			require.NoError(t, err)
			in := tt.data
			if tt.gs1 {
				in = "\xe8" + strings.ReplaceAll(tt.data, "\x1d", "\xe8")
			}
			theirs, err := bdm.Encode(in)
			require.NoError(t, err)
			b := theirs.Bounds()
			require.Equal(t, [2]int{ours.Cols, ours.Rows}, [2]int{b.Dx(), b.Dy()}, "symbol size")
			for y := 0; y < ours.Rows; y++ {
				for x := 0; x < ours.Cols; x++ {
					require.Equal(t, isDark(theirs, x, y), ours.At(x, y), "module (%d,%d)", x, y)
				}
			}
		})
	}
}

// TestEncodeDataMatrixEverySize fills every ECC 200 size to capacity and
// reads it back with gozxing's decoder (modules, no image), then checks the
// finder and clock patterns.
func TestEncodeDataMatrixEverySize(t *testing.T) {
	for _, s := range symbolSizes {
		t.Run(fmt.Sprintf("%dx%d", s.rows, s.cols), func(t *testing.T) {
			data := fillData(s.dataCW)
			m, err := EncodeDataMatrixSize(data, false, s.rows, s.cols)
			require.NoError(t, err)
			require.Equal(t, [2]int{s.rows, s.cols}, [2]int{m.Rows, m.Cols})

			res, err := decoder.NewDecoder().Decode(toBitMatrix(t, m))
			require.NoError(t, err)
			require.Equal(t, data, res.GetText())
			require.Equal(t, 1, res.GetSymbologyModifier(), "plain symbol is ]d1")

			for y := 0; y < m.Rows; y++ {
				require.True(t, m.At(0, y), "left edge of the L, row %d", y)
				require.Equal(t, y%2 == 1 || y == m.Rows-1, m.At(m.Cols-1, y), "right clock track, row %d", y)
			}
			for x := 0; x < m.Cols; x++ {
				require.True(t, m.At(x, m.Rows-1), "bottom edge of the L, column %d", x)
				require.Equal(t, x%2 == 0, m.At(x, 0), "top clock track, column %d", x)
			}
			require.False(t, m.At(-1, 0), "outside is light")
			require.False(t, m.At(0, m.Rows), "outside is light")
		})
	}
}

// TestEncodeDataMatrixMatchesZint compares every size with zint's encoder,
// module for module: full symbols of digit pairs leave zint no choice of
// encodation, so any difference is ours (or theirs) in padding, Reed-Solomon,
// interleaving or placement. 144×144 is the size where readers disagree.
func TestEncodeDataMatrixMatchesZint(t *testing.T) {
	zint, err := exec.LookPath("zint")
	if err != nil {
		t.Skip("SKIPPED comparison with zint: zint is not installed (Debian package zint)")
	}
	dir := t.TempDir()
	for i, s := range symbolSizes {
		vers := i + 1 // zint numbers the squares 1–24, then the rectangles 25–30, in our order
		t.Run(fmt.Sprintf("%dx%d", s.rows, s.cols), func(t *testing.T) {
			data := fillData(s.dataCW)
			out := filepath.Join(dir, fmt.Sprintf("zint-%d.png", vers))
			cmd := exec.Command(zint, "-b", "71", "--vers="+strconv.Itoa(vers), "--scale=0.5", "-d", data, "-o", out)
			b, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", b)
			theirs := readImage(t, out)
			require.Equal(t, dims(s.cols, s.rows), dims(theirs.Bounds().Dx(), theirs.Bounds().Dy()), "zint at one pixel per module")

			ours, err := EncodeDataMatrixSize(data, false, s.rows, s.cols)
			require.NoError(t, err)
			for y := 0; y < s.rows; y++ {
				for x := 0; x < s.cols; x++ {
					require.Equal(t, isDark(theirs, x, y), ours.At(x, y), "module (%d,%d)", x, y)
				}
			}
		})
	}
}

// dims formats a width and height for comparison messages.
func dims(w, h int) string { return fmt.Sprintf("%d×%d", w, h) }

// TestEncodeDataMatrixEverySizeConformance has the independent decoders
// (zxing-cpp and libdmtx) read every size, drawn at 3 pixels a module.
func TestEncodeDataMatrixEverySizeConformance(t *testing.T) {
	testkit.ValidatorsBin(t)
	dir := t.TempDir()
	var files []string
	want := map[string]string{}
	for _, s := range symbolSizes {
		data := fillData(s.dataCW)
		m, err := EncodeDataMatrixSize(data, false, s.rows, s.cols)
		require.NoError(t, err)
		f := filepath.Join(dir, fmt.Sprintf("%dx%d.png", s.rows, s.cols))
		testkit.WritePNG(t, f, matrixImage(m, 3, 2))
		files = append(files, f)
		want[f] = data
	}
	out, code := testkit.RunValidator(t, "decode-dm", append([]string{"--json"}, files...)...)
	require.Equal(t, 0, code, out)
	reports := parseDecodeDM(t, out)
	require.Len(t, reports, len(files))
	for _, r := range reports {
		t.Run(filepath.Base(r.File), func(t *testing.T) {
			require.Len(t, r.Symbols, 1)
			sym := r.Symbols[0]
			require.Equal(t, strings.TrimSuffix(filepath.Base(r.File), ".png"), sym.Size)
			require.Equal(t, "]d1", sym.SymbologyIdentifier)
			require.Equal(t, want[r.File], sym.Data)
			if sym.Size != "144x144" { // libdmtx reads only the other 144×144 interleaving
				require.True(t, r.DecodersAgree, "zxing-cpp and libdmtx agree: %+v", r)
			}
		})
	}
}

func TestEncodeDataMatrixSizeChoice(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		gs1        bool
		rows, cols int
		wantR      int
		wantC      int
	}{
		{"3 codewords fit 10x10", "ABC", false, 0, 0, 10, 10},
		{"4 codewords need 12x12", "ABCD", false, 0, 0, 12, 12},
		{"GS1: FNC1 and two digit pairs fit 10x10", "0101", true, 0, 0, 10, 10},
		{"GS1: the leading FNC1 counts", "010101", true, 0, 0, 12, 12},
		{"typical GS1 pack is 22x22", typicalGS1, true, 0, 0, 22, 22},
		{"smallest rectangle", "ABC", false, -1, -1, 8, 18},
		{"rectangle for the typical pack", typicalGS1, true, -1, -1, 16, 36},
		{"exact size asked", "ABC", false, 16, 48, 16, 48},
		{"largest square", fillData(1558), false, 0, 0, 144, 144},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := EncodeDataMatrixSize(tt.data, tt.gs1, tt.rows, tt.cols)
			require.NoError(t, err)
			require.Equal(t, [2]int{tt.wantR, tt.wantC}, [2]int{m.Rows, m.Cols})
		})
	}
}

func TestEncodeDataMatrixErrors(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		gs1        bool
		rows, cols int
		tooLong    bool
		wantMsg    string
	}{
		{"empty data", "", true, 0, 0, false, "empty"},
		{"GS1 data starting with GS", "\x1d0109506000134352", true, 0, 0, false, "starts with GS"},
		{"more than 144x144 holds", fillData(1559), false, 0, 0, true, "144×144 symbol holds 1558"},
		{"more than the largest rectangle holds", fillData(50), false, -1, -1, true, "16×48 symbol holds 49"},
		{"more than the size asked holds", typicalGS1, true, 10, 10, true, "10×10 symbol holds 3"},
		{"not an ECC 200 size", "A", false, 11, 11, false, "11×11 (rows×cols): not an ECC 200 size"},
		{"rows and columns swapped for a rectangle", "A", false, 18, 8, false, "not an ECC 200 size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodeDataMatrixSize(tt.data, tt.gs1, tt.rows, tt.cols)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantMsg)
			require.Equal(t, tt.tooLong, errors.Is(err, ErrDataTooLong))
		})
	}
}

// decodeDMReport is the part of decode-dm --json output the tests read.
type decodeDMReport struct {
	File    string `json:"file"`
	Decoded bool   `json:"decoded"`
	Symbols []struct {
		Size                string `json:"size"`
		SymbologyIdentifier string `json:"symbologyIdentifier"`
		Data                string `json:"data"`
		QuietZone           *struct {
			MinMarginModules float64 `json:"minMarginModules"`
			OK               bool    `json:"ok"`
		} `json:"quietZone"`
		GS1Validation *struct {
			Valid bool `json:"valid"`
		} `json:"gs1Validation"`
	} `json:"symbols"`
	Dmtx *struct {
		FirstDataCodeword *int `json:"firstDataCodeword"`
	} `json:"dmtx"`
	DecodersAgree bool     `json:"decodersAgree"`
	Warnings      []string `json:"warnings"`
	ExitCode      int      `json:"exitCode"`
}

// parseDecodeDM reads decode-dm's one-JSON-object-per-line output (other
// lines, such as Node warnings, are ignored) with <GS> turned back into GS.
func parseDecodeDM(tb testing.TB, out string) []decodeDMReport {
	tb.Helper()
	var reports []decodeDMReport
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r decodeDMReport
		require.NoError(tb, json.Unmarshal([]byte(line), &r), line)
		for i := range r.Symbols {
			r.Symbols[i].Data = strings.ReplaceAll(r.Symbols[i].Data, "<GS>", "\x1d")
		}
		reports = append(reports, r)
	}
	return reports
}
