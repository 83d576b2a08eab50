//go:build !windows

package service

import "errors"

// errNotWindows is every SCM action's answer off Windows.
var errNotWindows = errors.New("service commands are for Windows; on Linux use the systemd unit in deploy/systemd")

func install(Options) error             { return errNotWindows }
func uninstall(string) error            { return errNotWindows }
func start(string) error                { return errNotWindows }
func stop(string) error                 { return errNotWindows }
func runService(Options, Program) error { return errNotWindows }
