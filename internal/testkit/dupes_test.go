package testkit_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

// sameNameAllowed lists helper names that several packages define on
// purpose, because each is a different thing under a name that reads best
// in its own package. Add to it only with the reason.
var sameNameAllowed = map[string]string{
	"newEnv":        "each API's own fixture (server, store and client of that package)",
	"newRig":        "each package's own set of fakes around the thing it tests",
	"product":       "a product row built with that package's own types and defaults",
	"testOrder":     "an order in that package's own types (pool, station, ui, agent)",
	"testConfig":    "that package's own Config",
	"text":          "the text of that package's own answer type",
	"startSim":      "starts the simulator of that driver's own device",
	"newSim":        "builds that simulator package's own Sim",
	"itoa":          "one-line strconv wrappers over different integer types",
	"sgtin":         "an SGTIN URI from that package's own fixture values (different signatures)",
	"unitEvent":     "a unit event in that package's own types",
	"startLine":     "starts that package's own line (agent vs. simulator)",
	"startPacking":  "starts packing in that package's own rig",
	"newScreen":     "the operator screen inside that package's own rig",
	"testOperators": "that package's own operator list",
	"runScenarios":  "runs that package's own scenario table",
	"run":           "runs that package's own command or device",
	"do":            "an HTTP request helper returning that package's own answer type",
	"makeStore":     "builds that command's own store configuration",
	"next":          "reads the next scanner.Result; testkit cannot hold it: drivers/scanner's own (internal) tests import testkit",
	"scanFormat":    "the line fixture's scanner.Format; testkit cannot import drivers/scanner (its internal tests import testkit)",
	"zplParser":     "a zpl.Parser; testkit cannot import drivers/zpl (its internal tests import testkit)",
	"withoutAt":     "strips the time from a scanner.Result; testkit cannot import drivers/scanner (its internal tests import testkit)",
	"dialEdge":      "a fake edge: acks only (server) vs. acks, grants and orders with options (ingest)",
	"clearRetained": "clears retained topics on that test's own broker (ingest's credentials vs. the whole-line mosquitto)",
	"awaitWatchdog": "the PLC's watchdog seen by the agent vs. the edge's watchdog seen by the PLC driver: different deadlines and failure messages",
	"roundTrip":     "an HTTP round trip in web; a generic decode/encode check in the wire fuzz tests",
}

// TestNoDuplicateHelpers: a helper function needed by the tests of two
// packages lives here, not in two copies. It reads every _test.go file of
// the module and fails naming each top-level, non-Test function name defined
// in more than one package and not in sameNameAllowed.
func TestNoDuplicateHelpers(t *testing.T) {
	root := testkit.RepoFile(t, ".")
	where := map[string]map[string]bool{} // helper name → package folders
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata" || n == "node_modules" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || isTestEntry(fn.Name.Name) {
				continue
			}
			if where[fn.Name.Name] == nil {
				where[fn.Name.Name] = map[string]bool{}
			}
			where[fn.Name.Name][filepath.ToSlash(rel)] = true
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, where, "no _test.go files found under %s", root)

	var dupes []string
	for name, dirs := range where {
		if len(dirs) < 2 {
			continue
		}
		if _, ok := sameNameAllowed[name]; ok {
			continue
		}
		var ds []string
		for d := range dirs {
			ds = append(ds, d)
		}
		sort.Strings(ds)
		dupes = append(dupes, name+" in "+strings.Join(ds, ", "))
	}
	sort.Strings(dupes)
	require.Empty(t, dupes, "test helpers defined in two packages: move them to internal/testkit (or, if they are different things, name them apart or allow-list them with the reason)")

	for name := range sameNameAllowed {
		require.Greater(t, len(where[name]), 1, "%s is allow-listed but no longer defined in two packages: drop it from sameNameAllowed", name)
	}
}

func isTestEntry(name string) bool {
	for _, p := range []string{"Test", "Benchmark", "Fuzz", "Example"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
