//go:build !linux

package scanner

import (
	"context"
	"fmt"
)

// PTY is a pseudo-terminal the simulator serves; only Linux is supported.
type PTY struct {
	Path string
	done chan struct{}
}

// Done is closed once the pseudo-terminal has been closed.
func (p *PTY) Done() <-chan struct{} { return p.done }

// ServePTY is only implemented on Linux.
func (s *Simulator) ServePTY(ctx context.Context) (*PTY, error) {
	return nil, fmt.Errorf("scanner simulator %q: pseudo-terminals are only supported on Linux", s.name)
}
