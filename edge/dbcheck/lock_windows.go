//go:build windows

package dbcheck

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// tryLockShared takes a shared lock on f without waiting, on the byte range
// bbolt locks on Windows (the last byte of the 64-bit range: bolt_windows.go),
// so that it conflicts with a running agent's exclusive lock as a flock does
// on Linux; busy reports that conflict.
func tryLockShared(f *os.File) (busy bool, err error) {
	const m1 = (1 << 32) - 1 // -1 in a uint32
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0,
		&windows.Overlapped{Offset: m1, OffsetHigh: m1})
	return errors.Is(err, windows.ERROR_LOCK_VIOLATION), err
}
