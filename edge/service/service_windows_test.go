//go:build windows

package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/windows/svc"
)

// CI compiles this with GOOS=windows go test -c; it runs on a Windows machine.
func TestSCMMapping(t *testing.T) {
	for _, tc := range []struct {
		cmd  svc.Cmd
		want Request
		ok   bool
	}{
		{svc.Interrogate, Interrogate, true},
		{svc.Stop, Stop, true},
		{svc.Shutdown, Shutdown, true},
		{svc.PreShutdown, Shutdown, true},
		{svc.Pause, 0, false},
		{svc.ParamChange, 0, false},
	} {
		got, ok := toRequest(tc.cmd)
		require.Equal(t, tc.ok, ok, "cmd %d", tc.cmd)
		require.Equal(t, tc.want, got, "cmd %d", tc.cmd)
	}
	require.Equal(t, svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown},
		toStatus(Status{State: Running, AcceptStop: true}))
	require.Equal(t, svc.Status{State: svc.StopPending, WaitHint: 30000},
		toStatus(Status{State: StopPending, WaitHint: 30 * time.Second}))
	require.Equal(t, svc.Status{State: svc.StartPending, WaitHint: 10000},
		toStatus(Status{State: StartPending, WaitHint: 10 * time.Second}))
}

func TestRunOutsideTheSCMIsRefused(t *testing.T) {
	err := runService(Options{Name: DefaultName, LogFile: t.TempDir() + `\e.log`}, Program{})
	require.ErrorContains(t, err, "in a console use serialine-edge run")
}
