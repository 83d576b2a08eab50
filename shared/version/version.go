// Package version is the one place the programs' version lives: `make
// release` sets Version with -ldflags "-X .../shared/version.Version=v1.2.3";
// a plain `go build` leaves it empty and String falls back to the VCS
// revision Go embeds in the binary.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at link time; it is a var only because -X needs one.
var Version = ""

// String is the version line a program prints for `PROGRAM version`:
// "serialine-edge v1.2.3 (go1.26.8 linux/amd64)".
func String(program string) string { return line(program, Version) }

func line(program, linked string) string {
	return fmt.Sprintf("%s %s (%s %s/%s)", program, resolve(linked), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// resolve is the linked version, else the module's VCS revision, else "devel".
func resolve(linked string) string {
	if linked != "" {
		return linked
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}
