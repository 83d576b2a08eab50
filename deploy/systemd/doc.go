// Package systemd holds the systemd units of serialine-central and
// serialine-edge (the *.service files here; docs/operations.md (Running as services) installs
// them). It has no code: its test checks the units — the hardening they
// promise, that systemd-analyze verify accepts them, and that their
// ExecStart lines parse with the programs' own flags.
package systemd
