package plcsim

import (
	"testing"
	"github.com/creack/pty"
	"time"
)

func TestDbgPty(t *testing.T) {
	m, s, _ := pty.Open()
	defer m.Close(); defer s.Close()
	err := m.SetReadDeadline(time.Now().Add(5*time.Millisecond))
	t.Logf("setdeadline: %v", err)
	buf := make([]byte, 10)
	n, err := m.Read(buf)
	t.Logf("read: %d %v", n, err)
}
