// Command serialine-sim runs simulated line devices that speak the real
// protocols: `serialine-sim line` is the printer, scanner and PLC of one
// packaging line on one conveyor, with a technician web page to switch faults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/serialine/serialine/shared/version"
	"github.com/serialine/serialine/simulators/demo"
	"github.com/serialine/serialine/simulators/line"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the line could not start or stopped with an error
	exitUsage = 2 // bad command line or configuration
)

const usage = `usage: serialine-sim <command> [flags]

commands:
  line    the printer, scanner and PLC of one packaging line (serialine-sim line -h)
  demo    central + one line + edge, wired (needs serialine-central and serialine-edge)
  version print the version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit status. The line runs
// until ctx ends (main cancels it on SIGINT or SIGTERM).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "line":
		return runLine(ctx, args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version.String("serialine-sim"))
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "serialine-sim: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
}

// lineFlags are the command-line overrides of the configuration.
type lineFlags struct {
	config, printer, scanner, plc, printLog, http, logLevel string
	speed                                                   int
	fast                                                    bool
}

// runLine runs `serialine-sim line`: the line simulator until ctx ends.
//
// It is long because it is one CLI command: its flag set, the flags' overrides of the
// configuration, then start, wait and the closing counters.
func runLine(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serialine-sim line", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f lineFlags
	fs.StringVar(&f.config, "config", "configs/sim-line.yaml", "configuration file")
	fs.StringVar(&f.printer, "printer", "", "printer listen: tcp:HOST:PORT or pty (overrides printer.listen)")
	fs.StringVar(&f.scanner, "scanner", "", "scanner listen: tcp:HOST:PORT or pty (overrides scanner.listen)")
	fs.StringVar(&f.plc, "plc", "", "PLC Modbus TCP listen HOST:PORT (overrides plc.listen)")
	fs.IntVar(&f.speed, "speed", 0, "line speed in units/min (overrides speed)")
	fs.BoolVar(&f.fast, "fast", false, "fast mode: no rasterising, no decoding (overrides fast)")
	fs.StringVar(&f.printLog, "print-log", "", "append one JSON line per printed label to FILE (overrides print_log)")
	fs.StringVar(&f.http, "http", "", "technician web page HOST:PORT (overrides http)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (overrides log.level)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serialine-sim line: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := line.LoadConfig(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "serialine-sim line: %v\n", err)
		return exitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["printer"] {
		cfg.Printer.Listen = f.printer
	}
	if set["scanner"] {
		cfg.Scanner.Listen = f.scanner
	}
	if set["plc"] {
		cfg.PLC.Listen = f.plc
	}
	if set["speed"] {
		cfg.Speed = f.speed
	}
	if set["fast"] {
		cfg.Fast = f.fast
	}
	if set["print-log"] {
		cfg.PrintLog = f.printLog
	}
	if set["http"] {
		cfg.HTTP = f.http
	}
	if set["log-level"] {
		cfg.Log.Level = f.logLevel
		if err := cfg.Log.Validate("--log-level"); err != nil {
			fmt.Fprintf(stderr, "serialine-sim line: %v\n", err)
			return exitUsage
		}
	}
	log := cfg.Log.Logger(stderr)
	l, err := line.New(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "serialine-sim line: %v\n", err)
		return exitUsage
	}
	if err := l.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "serialine-sim line: %v\n", err)
		_ = l.Close()
		return exitError
	}
	d := l.Devices() // the line logged them too, with slog
	mode := ""
	if cfg.Fast {
		mode = " (fast mode)"
	}
	fmt.Fprintf(stdout, "line %s%s at %d units/min: printer %s | scanner %s | plc %s unit %d | web %s\n",
		cfg.Line, mode, cfg.Speed, d.Printer, d.Scanner, d.PLC, d.PLCUnitID, d.HTTP)

	<-ctx.Done()
	log.Info("line simulator stopping", "line", cfg.Line)
	st := l.Status()
	if err := l.Close(); err != nil {
		fmt.Fprintf(stderr, "serialine-sim line: stop: %v\n", err)
		return exitError
	}
	c := st.Counters
	fmt.Fprintf(stdout, "line %s stopped: %s\n", cfg.Line, strings.Join([]string{
		fmt.Sprintf("triggers %d", c.Triggers), fmt.Sprintf("printed %d", c.Printed),
		fmt.Sprintf("scanned %d", c.Scanned), fmt.Sprintf("no-reads %d", c.NoReads),
		fmt.Sprintf("good %d", c.Good), fmt.Sprintf("rejected %d", c.Rejected),
	}, ", "))
	return exitOK
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serialine-sim demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg demo.Config
	fs.StringVar(&cfg.DataDir, "data", "data/demo", "data folder (central's database, the edge's data, demo.json, logs); re-runs continue with it")
	fs.IntVar(&cfg.Speed, "speed", 0, "line speed in units/min (default: the simulator's)")
	fs.BoolVar(&cfg.Fast, "fast", false, "simulator fast mode: no rasterising, no decoding")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serialine-sim demo: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "serialine-sim demo: --log-level: %v\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := demo.Run(ctx, cfg, stdout, log); err != nil {
		fmt.Fprintf(stderr, "serialine-sim %v\n", err)
		if errors.Is(err, demo.ErrMissingBinary) {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}
