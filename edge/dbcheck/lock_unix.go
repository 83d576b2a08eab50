//go:build !windows

package dbcheck

import (
	"errors"
	"os"
	"syscall"
)

// tryLockShared takes a shared flock on f without waiting; busy reports
// that another process holds it exclusively (a running agent).
func tryLockShared(f *os.File) (busy bool, err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	return errors.Is(err, syscall.EWOULDBLOCK), err
}
