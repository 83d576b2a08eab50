//go:build windows

package agent

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// freeMB is the space left for the agent's account on dir's disk (quotas
// included, as Bavail is on Linux).
func freeMB(dir string) (float64, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &free); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return float64(avail) / (1 << 20), nil
}
