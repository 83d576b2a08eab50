//go:build !windows

package service

func install(Options) error             { return errNotWindows }
func uninstall(string) error            { return errNotWindows }
func start(string) error                { return errNotWindows }
func stop(string) error                 { return errNotWindows }
func runService(Options, Program) error { return errNotWindows }
