package version

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestString(t *testing.T) {
	require.Equal(t, "serialine-sim v1.2.3 ("+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+")",
		line("serialine-sim", "v1.2.3"))
	// Unlinked (go test binaries carry no VCS stamp): never empty.
	require.True(t, strings.HasPrefix(resolve(""), "devel"), resolve(""))
}
