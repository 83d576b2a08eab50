// Command serialine-edge is the packaging-line agent: `run` drives the
// line (edge/agent) and serves the operator's touchscreen (edge/ui),
// `check` checks the agent's store page by page (edge/dbcheck),
// `label` carries the GS1 label tools a technician uses on the line PC,
// `pin-hash` makes an operator's pin_hash (edge/ui/pin).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/dbcheck"
	"github.com/serialine/serialine/edge/labeltool"
	"github.com/serialine/serialine/edge/service"
	"github.com/serialine/serialine/edge/ui"
	"github.com/serialine/serialine/edge/ui/pin"
	"github.com/serialine/serialine/shared/version"
)

const usage = `usage: serialine-edge <command> [arguments]

commands:
  run [--config configs/edge.yaml] [--mqtt tcp://HOST:PORT] [--data DIR] [--http HOST:PORT]
                                  run the line agent and its touchscreen (at / of --http)
  check --data DIR                check DIR/edge.db page by page (exit 0 clean, 1 damaged, 2 cannot check)
  label render|decode|parse ...   GS1 label tools (serialine-edge label help)
  pin-hash [--iterations N] < pin print an operator's pin_hash for the config (PIN on stdin)
  service install|uninstall|start|stop|run ...
                                  the agent as a Windows service (serialine-edge service help)
  version                         print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "run":
		os.Exit(run(os.Args[2:], os.Stderr))
	case "check":
		os.Exit(dbcheck.Command(os.Args[2:], os.Stdout, os.Stderr))
	case "label":
		os.Exit(labeltool.Run(os.Args[2:], os.Stdout, os.Stderr))
	case "pin-hash":
		os.Exit(pin.Command(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	case "service":
		os.Exit(service.Command(os.Args[2:], service.Program{Run: runAgent, Check: checkRun}, os.Stdout, os.Stderr))
	case "version", "--version":
		fmt.Println(version.String("serialine-edge"))
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "serialine-edge: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}

// run parses the flags and the configuration, then runs the agent until
// SIGINT or SIGTERM.
func run(args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runAgent(ctx, args, stderr)
}

// runFlags parses the flags of `run` (which `service install` stores for the
// Windows service) over the configuration file.
func runFlags(args []string, stderr io.Writer) (agent.Config, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "configs/edge.yaml", "configuration file")
	broker := fs.String("mqtt", "", "MQTT broker URL, e.g. tcp://127.0.0.1:1883 (overrides mqtt.broker)")
	data := fs.String("data", "", "data folder (overrides data_dir)")
	httpAddr := fs.String("http", "", "HOST:PORT of /metrics and the API (overrides http)")
	if err := fs.Parse(args); err != nil {
		return agent.Config{}, usageError{err} // the flag package has printed it
	}
	if fs.NArg() > 0 {
		return agent.Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		return agent.Config{}, err
	}
	if *broker != "" {
		cfg.MQTT.Broker = *broker
	}
	if *data != "" {
		cfg.DataDir = *data
	}
	if *httpAddr != "" {
		cfg.HTTP = *httpAddr
	}
	return cfg, cfg.Validate()
}

// usageError is a bad command line, already shown with the flags' usage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// checkRun is what `service install` checks before installing: the flags
// parse and the configuration they name is valid.
func checkRun(args []string) error {
	_, err := runFlags(args, io.Discard)
	return err
}

// runAgent runs the agent with the flags of `run` until ctx ends: `run`
// cancels it on SIGINT or SIGTERM, the Windows service on a stop or
// shutdown from the service manager.
func runAgent(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := runFlags(args, stderr)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "serialine-edge run: %v\n", err)
		return 2
	}
	log := cfg.Log.Logger(stderr)
	a, err := agent.New(cfg, log) // validates again, with the flags applied
	if err != nil {
		fmt.Fprintf(stderr, "serialine-edge run: %v\n", err)
		return 2
	}
	if _, err := ui.Mount(a, cfg, log); err != nil { // the touchscreen at /
		fmt.Fprintf(stderr, "serialine-edge run: %v\n", err)
		return 2
	}
	if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		var dmg *dbcheck.DamagedError
		if errors.As(err, &dmg) { // several lines: the damage and what to do
			fmt.Fprintf(stderr, "serialine-edge run: %v\n", err)
			return 1
		}
		log.Error("serialine-edge stopped", "err", err)
		return 1
	}
	return 0
}
