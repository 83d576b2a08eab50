// Package service runs the edge agent as a Windows service:
// `serialine-edge service install|uninstall|start|stop` drive the service
// manager (SCM), and `service run` is the command line the SCM starts. The
// service runs the same agent, with the same flags and configuration, as
// `serialine-edge run`; an SCM stop or shutdown cancels its context, as
// SIGTERM does on Linux. On Linux the agent runs under systemd instead
// (deploy/systemd); there the service commands only say so.
//
// This file holds what is the same on every platform (arguments, the
// service's state machine, the log file) so that it is tested everywhere;
// service_windows.go talks to the SCM.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DefaultName is the service name install uses unless --name is given (one
// agent per line PC needs nothing else; two lines on one PC take two names).
const DefaultName = "serialine-edge"

// Program is what the service runs, given by serialine-edge's main.
type Program struct {
	// Run runs the agent with the flags of `serialine-edge run` until ctx
	// ends, logging to stderr, and returns the exit status.
	Run func(ctx context.Context, args []string, stderr io.Writer) int
	// Check parses the same flags and checks the configuration they name,
	// so that install refuses a service that could not start.
	Check func(args []string) error
}

// Options are a service command's arguments.
type Options struct {
	Name string
	// LogFile is where the running service writes its log and the agent's
	// (run only; install stores it in the service's command line).
	LogFile string
	// Account is the account the service runs as (install only); empty is
	// LocalSystem.
	Account string
	// RunArgs are the flags of `serialine-edge run` the service passes to
	// the agent, with absolute paths.
	RunArgs []string
}

// CommandLine is the service's command line after the program: what the
// SCM starts.
func (o Options) CommandLine() []string {
	return append([]string{"service", "run", "--name", o.Name, "--log", o.LogFile}, o.RunArgs...)
}

const usage = `usage: serialine-edge service <command> [flags]

The edge agent as a Windows service (on Linux use the systemd unit in deploy/systemd).

commands:
  install [--name NAME] [--log FILE] [--account ACCOUNT] --config FILE [--mqtt URL] [--data DIR] [--http HOST:PORT]
          check the configuration and register the service (automatic start,
          restarted by the service manager after a failure); run from an
          administrator's prompt. --log defaults to
          %ProgramData%\Serialine\NAME.log, --account to LocalSystem (e.g.
          "NT SERVICE\serialine-edge" for a virtual account).
  uninstall [--name NAME]   stop the service if it runs, and remove it
  start [--name NAME]       start it and wait until it runs
  stop [--name NAME]        stop it (the line stops as on SIGTERM) and wait
  run ...                   what the service manager starts (not for a console:
                            use serialine-edge run there)
`

// Command runs `serialine-edge service ARGS` and returns the exit status: 0,
// 1 when the action failed, 2 for bad usage or configuration.
func Command(args []string, prog Program, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	o, err := parse(args[0], args[1:], stderr, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "serialine-edge service %s: %v\n", args[0], err)
		return 2
	}
	var act error
	switch args[0] {
	case "install":
		if err := prog.Check(o.RunArgs); err != nil {
			fmt.Fprintf(stderr, "serialine-edge service install: the service would not start: %v\n", err)
			return 2
		}
		act = install(o)
		if act == nil {
			fmt.Fprintf(stdout, "installed service %q; start it with: serialine-edge service start --name %s\n", o.Name, o.Name)
		}
	case "uninstall":
		act = uninstall(o.Name)
	case "start":
		act = start(o.Name)
	case "stop":
		act = stop(o.Name)
	case "run":
		act = runService(o, prog)
	}
	if act != nil {
		fmt.Fprintf(stderr, "serialine-edge service %s: %v\n", args[0], act)
		return 1
	}
	return 0
}

// parse reads a service command's flags; install makes the paths absolute
// (the service starts in the system folder, not here).
func parse(cmd string, args []string, stderr io.Writer, getenv func(string) string) (Options, error) {
	fs := flag.NewFlagSet("serialine-edge service "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	o := Options{}
	fs.StringVar(&o.Name, "name", DefaultName, "service name")
	var config, mqtt, data, httpAddr *string
	switch cmd {
	case "install", "run":
		fs.StringVar(&o.LogFile, "log", "", "log file")
		config = fs.String("config", "", "configuration file (as for serialine-edge run)")
		mqtt = fs.String("mqtt", "", "MQTT broker URL (overrides mqtt.broker)")
		data = fs.String("data", "", "data folder (overrides data_dir)")
		httpAddr = fs.String("http", "", "HOST:PORT of the touchscreen (overrides http)")
		if cmd == "install" {
			fs.StringVar(&o.Account, "account", "", "account the service runs as (default LocalSystem)")
		}
	case "uninstall", "start", "stop":
	default:
		return Options{}, fmt.Errorf("unknown command (use install, uninstall, start or stop)")
	}
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	if err := checkName(o.Name); err != nil {
		return Options{}, fmt.Errorf("--name: %w", err)
	}
	if config == nil {
		return o, nil
	}
	if *config == "" {
		return Options{}, errors.New("--config: missing (the agent's configuration file)")
	}
	abs := func(flagName, p string) (string, error) {
		if cmd != "install" {
			return p, nil
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flagName, err)
		}
		return a, nil
	}
	var err error
	if *config, err = abs("config", *config); err != nil {
		return Options{}, err
	}
	o.RunArgs = []string{"--config", *config}
	if *data != "" {
		if *data, err = abs("data", *data); err != nil {
			return Options{}, err
		}
		o.RunArgs = append(o.RunArgs, "--data", *data)
	}
	if *mqtt != "" {
		o.RunArgs = append(o.RunArgs, "--mqtt", *mqtt)
	}
	if *httpAddr != "" {
		o.RunArgs = append(o.RunArgs, "--http", *httpAddr)
	}
	if o.LogFile == "" {
		if cmd == "run" {
			return Options{}, errors.New("--log: missing (the service has no console)")
		}
		pd := getenv("ProgramData")
		if pd == "" {
			return Options{}, errors.New("--log: missing, and %ProgramData% is not set to default it")
		}
		o.LogFile = filepath.Join(pd, "Serialine", o.Name+".log")
	}
	if o.LogFile, err = abs("log", o.LogFile); err != nil {
		return Options{}, err
	}
	return o, nil
}

// checkName keeps service names to what the SCM and a command line take
// without quoting surprises.
func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%q: 1-64 characters", name)
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}); i >= 0 {
		return fmt.Errorf("%q: character %q: use A-Z a-z 0-9 . _ -", name, name[i])
	}
	return nil
}
