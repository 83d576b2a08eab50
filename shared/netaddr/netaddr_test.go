package netaddr_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/netaddr"
)

func TestCheckListen(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "",
		"0.0.0.0:0":      "",
		"[::1]:1883":     "",
		"localhost":      "is not HOST:PORT",
		":8080":          "has no host",
		"a:99999":        "is not a number from 0 to 65535",
		"a:http":         "is not a number",
	} {
		err := netaddr.CheckListen(addr)
		if want == "" {
			require.NoError(t, err, addr)
		} else {
			require.ErrorContains(t, err, want, addr)
		}
	}
}

func TestCheckDial(t *testing.T) {
	for addr, want := range map[string]string{
		"10.0.0.21:9100":  "",
		"[::1]:502":       "",
		"10.0.0.21:0":     `port "0" is not a number from 1 to 65535`,
		"10.0.0.21:000":   `port "000" is not a number from 1 to 65535`,
		"10.0.0.21:70000": `port "70000" is not a number from 1 to 65535`,
		"":                "missing",
		":9100":           "has no host",
		"10.0.0.21":       "is not HOST:PORT",
	} {
		err := netaddr.CheckDial(addr)
		if want == "" {
			require.NoError(t, err, addr)
		} else {
			require.ErrorContains(t, err, want, addr)
		}
	}
}
