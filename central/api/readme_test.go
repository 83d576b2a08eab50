package api_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/api"
)

// TestREADMEListsEveryRoute keeps the README's route table true: every
// route with its roles, and no route that does not exist.
func TestREADMEListsEveryRoute(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	row := regexp.MustCompile("(?m)^\\| `([A-Z]+ /api/v1/[^`]*)`[^|]*\\| ([a-z, ]+) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = m[2]
	}
	for _, rt := range api.Routes() {
		key := rt.Method + " " + rt.Pattern
		roles, ok := documented[key]
		require.True(t, ok, "README.md does not list %s", key)
		want := ""
		for i, r := range rt.Roles {
			if i > 0 {
				want += ", "
			}
			want += string(r)
		}
		require.Equal(t, want, roles, "roles of %s in README.md", key)
		delete(documented, key)
	}
	require.Empty(t, documented, "README.md lists routes that do not exist")
}
