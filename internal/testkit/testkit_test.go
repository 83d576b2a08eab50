package testkit_test

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that keeps what is logged and the first fatal
// message, so the kit's failures can be checked without failing this test.
type recorder struct {
	testing.TB
	logs     []string
	fatal    string
	cleanups []func()
}

func (r *recorder) Helper()                           {}
func (r *recorder) Log(args ...any)                   { r.logs = append(r.logs, fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Cleanup(f func())                  { r.cleanups = append(r.cleanups, f) }

func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestLogger(t *testing.T) {
	r := &recorder{TB: t}
	log := testkit.Logger(r)
	log.Debug("debug shows", "k", 1)
	require.Len(t, r.logs, 1)
	require.Contains(t, r.logs[0], "level=DEBUG")
	require.Contains(t, r.logs[0], `msg="debug shows" k=1`)
	require.False(t, strings.HasSuffix(r.logs[0], "\n"), "the trailing newline is trimmed")

	r.end()
	log.Info("after the test") // would panic through a real testing.T
	require.Len(t, r.logs, 1, "nothing is logged once the test ended")
}

func TestContext(t *testing.T) {
	r := &recorder{TB: t}
	ctx := testkit.Context(r)
	dl, ok := ctx.Deadline()
	require.True(t, ok)
	require.WithinDuration(t, time.Now().Add(testkit.Wait), dl, 5*time.Second)
	require.NoError(t, ctx.Err())
	r.end()
	require.Error(t, ctx.Err(), "cancelled at cleanup")
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	testkit.Eventually(t, "third look", func() bool { return n.Add(1) == 3 })
	require.EqualValues(t, 3, n.Load())

	r := &recorder{TB: t}
	testkit.EventuallyWithin(r, 10*time.Millisecond, "the moon", func() bool { return false })
	require.Equal(t, "the moon: not within 10ms", r.fatal)
}

func TestGS1(t *testing.T) {
	require.Equal(t, "0614141000005", testkit.GLN(t, "061414100000"))
	require.Equal(t, "106141411234567897", testkit.SSCC(t, 1, "0614141", 123456789)) // GS1 General Specifications example
	require.Equal(t, "00312345678906", testkit.WithCheckDigit(t, "0031234567890"))
	require.Equal(t, "12345-678-90", testkit.NDC("00312345678906"))
}

func TestPrintLog(t *testing.T) {
	path := testkit.WriteTemp(t, "print.log", []byte(
		`{"data":"010031234567890621S1\u001d71512345-678-90"}`+"\n"+
			`{"data":"010031234567890621S2\u001d71512345-678-90"}`+"\n"))
	require.Equal(t, []string{"S1", "S2"}, testkit.PrintLog(t, path, nil))
	require.Equal(t, []string{"S1", "S2"}, testkit.PrintLog(t, path, map[string]string{"715": "12345-678-90"}))
}

func TestFiles(t *testing.T) {
	_, err := os.Stat(testkit.RepoFile(t, "go.mod"))
	require.NoError(t, err, "RepoFile resolves from the module root")

	img := image.NewGray(image.Rect(0, 0, 2, 1))
	img.SetGray(1, 0, color.Gray{Y: 255})
	p := testkit.TempPNG(t, "x.png", img)
	require.Equal(t, "x.png", filepath.Base(p))
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	back, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, img.Bounds(), back.Bounds())
	require.EqualValues(t, 255, color.GrayModel.Convert(back.At(1, 0)).(color.Gray).Y)
}

func TestSchema(t *testing.T) {
	p := testkit.WriteTemp(t, "s.json", []byte(`{"type":"object","required":["a"]}`))
	rel, err := filepath.Rel(testkit.RepoFile(t, "."), p)
	require.NoError(t, err)
	sc := testkit.Schema(t, filepath.ToSlash(rel))
	require.NoError(t, sc.Validate(map[string]any{"a": 1.0}))
	require.Error(t, sc.Validate(map[string]any{}))
	testkit.RequireSchemaValid(t, filepath.ToSlash(rel), []byte(`{"a":1}`))
}

func TestMisc(t *testing.T) {
	a, b := testkit.RandHex(8), testkit.RandHex(8)
	require.Len(t, a, 16)
	require.NotEqual(t, a, b)
	require.Equal(t, `{"a":1}`, testkit.MustJSON(t, map[string]int{"a": 1}))
}

func TestValidatorsSkipWhenAbsent(t *testing.T) {
	t.Setenv(testkit.EnvValidatorsBin, "")
	if _, err := os.Stat(testkit.RepoFile(t, "../shared/validators/setup")); err == nil {
		t.Skip("../shared/validators is present here: the absent case cannot be shown")
	}
	var skipped bool
	t.Run("inner", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		testkit.ValidatorsBin(t)
	})
	require.True(t, skipped)
}
