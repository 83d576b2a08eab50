// This file runs the independent validators kept beside the project
// (../shared/validators: decode-dm, validate-gs1, render-zpl, validate-epcis-*)
// from tests. They check our output against the published standards with code
// that is not ours, so they catch what our own decoders and parsers cannot.
//
// Where the validators are not present (a user's clone without the shared
// folder), every test that needs them is skipped with a message saying so.

package testkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// EnvValidatorsBin names the environment variable that points at the validators' bin
// folder. `make test` sets it after running the validators' setup once.
const EnvValidatorsBin = "SERIALINE_VALIDATORS_BIN"

// ValidatorsBin returns the folder holding the validator scripts, or skips the test with
// a plain reason when they are not available.
func ValidatorsBin(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv(EnvValidatorsBin); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "decode-dm")); err != nil {
			tb.Fatalf("%s=%q does not hold the validators: %v", EnvValidatorsBin, dir, err)
		}
		return dir
	}
	setup, err := findSetup()
	if err != nil {
		tb.Skipf("SKIPPED conformance check: independent validators not found (%v); set %s or keep ../shared/validators beside the repository", err, EnvValidatorsBin)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", setup)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("validators setup %s: %v\n%s", setup, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// RunValidator runs one validator with args and returns its combined output and exit
// code. A validator that cannot be started fails the test.
func RunValidator(tb testing.TB, tool string, args ...string) (output string, exitCode int) {
	tb.Helper()
	cmd := exec.Command(filepath.Join(ValidatorsBin(tb), tool), args...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		tb.Fatalf("run validator %s: %v", tool, err)
		return "", -1
	}
}

// findSetup walks up from the working directory to the module root and looks
// for ../shared/validators/setup beside it.
func findSetup() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			setup := filepath.Join(filepath.Dir(dir), "shared", "validators", "setup")
			if _, err := os.Stat(setup); err != nil {
				return "", errors.New(setup + " does not exist")
			}
			return setup, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root (go.mod) not found above the working directory")
		}
		dir = parent
	}
}

// RequireDecodeDM has decode-dm read img and fails the test unless it finds
// exactly one GS1 DataMatrix (symbology ]d2) carrying data (FNC1 as GS) that
// validate-gs1 accepts.
func RequireDecodeDM(tb testing.TB, img image.Image, data string) {
	tb.Helper()
	path := TempPNG(tb, "label.png", img)
	out, code := RunValidator(tb, "decode-dm", "--require-gs1", "--validate", "--json", path)
	require.Equal(tb, 0, code, "decode-dm: %s", out)
	var rep struct {
		Symbols []struct {
			SymbologyIdentifier string `json:"symbologyIdentifier"`
			Data                string `json:"data"`
			GS1Validation       struct {
				Valid  bool   `json:"valid"`
				Output string `json:"output"`
			} `json:"gs1Validation"`
		} `json:"symbols"`
	}
	require.NoError(tb, json.Unmarshal([]byte(out), &rep), out)
	require.Len(tb, rep.Symbols, 1, out)
	require.Equal(tb, "]d2", rep.Symbols[0].SymbologyIdentifier)
	require.Equal(tb, strings.ReplaceAll(data, "\x1d", "<GS>"), rep.Symbols[0].Data)
	require.True(tb, rep.Symbols[0].GS1Validation.Valid, "%s\n%s", rep.Symbols[0].GS1Validation.Output, out)
}
