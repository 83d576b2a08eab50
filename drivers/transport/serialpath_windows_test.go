//go:build windows

package transport

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// CI compiles this with GOOS=windows (make windows); it runs on Windows.
func TestCheckSerialPathWindows(t *testing.T) {
	for _, ok := range []string{"COM1", "com3", `\\.\COM10`, "COM256"} {
		require.NoError(t, checkSerialPath(ok), ok)
	}
	for _, bad := range []string{"", "COM0", "COM", "/dev/ttyS0", "COM3x", `C:\COM3`, "COM1234"} {
		require.Error(t, checkSerialPath(bad), bad)
	}
}
