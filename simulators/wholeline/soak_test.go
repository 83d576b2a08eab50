package wholeline_test

import (
	"os"
	"testing"
)

// soakEnv selects the soak sizes: `make soak` sets it, `make test` does
// not. The long scenarios (tens of thousands of units at line speed) are
// the sizes their issues named; in `make test` they run the same steps on
// fewer units so that each system test stays under three minutes.
const soakEnv = "SERIALINE_SOAK"

// soakSize is full under `make soak` and short otherwise; it logs which.
func soakSize(tb testing.TB, short, full int) int {
	tb.Helper()
	if os.Getenv(soakEnv) != "" {
		tb.Logf("soak: %d units (%s set)", full, soakEnv)
		return full
	}
	tb.Logf("%d units; `make soak` runs %d", short, full)
	return short
}
