//go:build unix

package demo

import "syscall"

// ownGroup puts a child in its own process group, so that a Ctrl-C at the
// terminal reaches only the demo, which then stops the children in order.
func ownGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
