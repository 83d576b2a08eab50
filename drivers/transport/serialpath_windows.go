//go:build windows

package transport

import (
	"errors"
	"regexp"
)

// comPort is a Windows serial port as the serial library opens it: COM3, or
// its device path \\.\COM3 (needed from COM10 on by some tools; both work).
var comPort = regexp.MustCompile(`^(?i)(\\\\\.\\)?COM[1-9][0-9]{0,2}$`)

// checkSerialPath: on Windows a serial device is a COM port.
func checkSerialPath(p string) error {
	if !comPort.MatchString(p) {
		return errors.New(`a serial port on Windows is COMn or \\.\COMn, e.g. serial:COM3?baud=115200`)
	}
	return nil
}
