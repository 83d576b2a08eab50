package server_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/server"
	"github.com/serialine/serialine/internal/testkit"
)

const hashFixtures = "../../shared/epcis/testdata/hashref"

// runCLI runs serialine-central in-process.
func runCLI(tb testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	var out, errb bytes.Buffer
	code = server.Main(context.Background(), args, server.Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(stdin)})
	return out.String(), errb.String(), code
}

// fixturesWithHashes lists the documents whose reference hashes are committed
// and those hashes, in the files' order.
func fixturesWithHashes(tb testing.TB, pattern string) (files, hashes []string) {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(hashFixtures, pattern))
	require.NoError(tb, err)
	for _, f := range m {
		if strings.HasSuffix(f, ".hashes") || (!strings.HasSuffix(f, ".xml") && !strings.HasSuffix(f, ".jsonld")) {
			continue
		}
		for _, h := range []string{f + ".hashes", strings.TrimSuffix(f, filepath.Ext(f)) + ".hashes"} {
			if b, err := os.ReadFile(h); err == nil {
				files = append(files, f)
				hashes = append(hashes, strings.Fields(string(b))...)
				break
			}
		}
	}
	require.NotEmpty(tb, files)
	return files, hashes
}

func TestEPCISHashCommand(t *testing.T) {
	files, want := fixturesWithHashes(t, "*/*")
	out, errOut, code := runCLI(t, "", append([]string{"epcis", "hash"}, files...)...)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	require.Equal(t, want, strings.Fields(out))
	require.GreaterOrEqual(t, len(files), 30)

	// Standard input, XML and JSON-LD alike.
	for _, f := range []string{"reference/ReferenceEventHashAlgorithm.xml", "reference/ReferenceEventHashAlgorithm.jsonld"} {
		b, err := os.ReadFile(filepath.Join(hashFixtures, f))
		require.NoError(t, err)
		exp, err := os.ReadFile(filepath.Join(hashFixtures, "reference/ReferenceEventHashAlgorithm.hashes"))
		require.NoError(t, err)
		out, errOut, code := runCLI(t, string(b), "epcis", "hash", "-")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, strings.Fields(string(exp)), strings.Fields(out), f)
	}
}

func TestEPCISHashCommandErrors(t *testing.T) {
	files, want := fixturesWithHashes(t, "reference/ReferenceEventHashAlgorithm.xml")
	bad := filepath.Join(t.TempDir(), "bad.jsonld")
	require.NoError(t, os.WriteFile(bad, []byte(`{"@context": [`), 0o600))
	missing := filepath.Join(t.TempDir(), "missing.xml")
	out, errOut, code := runCLI(t, "", "epcis", "hash", bad, files[0], missing)
	require.Equal(t, 1, code)
	require.Equal(t, want, strings.Fields(out), "the good document is still hashed")
	require.Contains(t, errOut, "epcis hash "+bad+": ")
	require.Contains(t, errOut, "epcis hash "+missing+": ")

	// A document the reference cannot hash: IDs all the same, and a note.
	tx := filepath.Join(hashFixtures, "gs1/Example-TransactionEvent-2020_07_03y.xml")
	out, errOut, code = runCLI(t, "", "epcis", "hash", tx)
	require.Equal(t, 0, code, errOut)
	require.Len(t, strings.Fields(out), 2)
	require.Contains(t, errOut, "reference generator cannot hash this event")

	for _, args := range [][]string{{"epcis"}, {"epcis", "hash"}, {"epcis", "frob", "x"}} {
		_, errOut, code := runCLI(t, "", args...)
		require.Equal(t, 2, code, "%v", args)
		require.Contains(t, errOut, "usage: serialine-central epcis hash FILE")
	}
}

// TestEPCISHashCommandEqualsReference: the command prints what GS1's
// reference generator prints for the same XML documents.
func TestEPCISHashCommandEqualsReference(t *testing.T) {
	bin := testkit.ValidatorsBin(t)
	files, _ := fixturesWithHashes(t, "*/*.xml")
	ref, err := exec.Command(filepath.Join(bin, "epcis-hash"), files...).Output()
	require.NoError(t, err)
	out, errOut, code := runCLI(t, "", append([]string{"epcis", "hash"}, files...)...)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, strings.Fields(string(ref)), strings.Fields(out))
}
