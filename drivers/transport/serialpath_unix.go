//go:build !windows

package transport

import (
	"errors"
	"strings"
)

// checkSerialPath: a serial device is an absolute path such as /dev/ttyUSB0.
func checkSerialPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("a serial device path must be absolute")
	}
	return nil
}
