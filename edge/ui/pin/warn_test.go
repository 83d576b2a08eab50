package pin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCommandWarnsShortPIN: pin-hash still makes the hash of a 4- or
// 5-digit PIN, but warns to use 6 digits or more.
func TestCommandWarnsShortPIN(t *testing.T) {
	for _, tc := range []struct {
		pin  string
		warn bool
	}{{"2468", true}, {"24680", true}, {"246801", false}, {"24680135", false}} {
		t.Run(tc.pin, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Command([]string{"--iterations", "1000"}, strings.NewReader(tc.pin+"\n"), &out, &errOut)
			require.Equal(t, 0, code, errOut.String())
			p, err := Parse(strings.TrimSpace(out.String()))
			require.NoError(t, err)
			require.True(t, p.Matches(tc.pin))
			if tc.warn {
				require.Contains(t, errOut.String(), "warning: a "+string(rune('0'+len(tc.pin)))+"-digit PIN")
				require.Contains(t, errOut.String(), "use 6 digits or more")
			} else {
				require.Empty(t, errOut.String())
			}
		})
	}
}
