//go:build !windows

package agent

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// freeMB is the space left for an unprivileged writer on dir's disk.
func freeMB(dir string) (float64, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return float64(fs.Bavail) * float64(fs.Bsize) / (1 << 20), nil
}
