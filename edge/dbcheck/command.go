package dbcheck

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// FileName is the store's file in the data folder (edge/agent.DBFile).
const FileName = "edge.db"

// Command is `serialine-edge check --data DIR`: the full check of
// DIR/edge.db (every page, then bbolt's own consistency check), printed.
// Exit status 0: clean; 1: damaged; 2: usage, or a file that cannot be
// checked (missing, unreadable, in use by a running agent).
func Command(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("check", flag.ContinueOnError)
	fl.SetOutput(stderr)
	data := fl.String("data", "", "the agent's data folder (data_dir), holding "+FileName)
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "serialine-edge check: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	if *data == "" {
		fmt.Fprintln(stderr, "serialine-edge check: --data: missing (the agent's data folder)")
		return 2
	}
	path := filepath.Join(*data, FileName)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "serialine-edge check: no %s in %s\n", FileName, *data)
		} else {
			fmt.Fprintf(stderr, "serialine-edge check: %v\n", err)
		}
		return 2
	}
	// A file a running agent writes cannot be judged: refuse at once.
	unlock, err := lockShared(path, 0)
	if err != nil {
		fmt.Fprintf(stderr, "serialine-edge check: %v; stop the agent first\n", err)
		return 2
	}
	defer unlock()
	rep, err := Check(path, 0)
	if err != nil {
		fmt.Fprintf(stderr, "serialine-edge check: %v\n", err)
		return 2
	}
	if !rep.Damaged() {
		db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: DefaultLockTimeout}, rep)
		var dmg *DamagedError
		switch {
		case errors.As(err, &dmg):
			rep = dmg.Report
		case err != nil:
			fmt.Fprintf(stderr, "serialine-edge check: %v\n", err)
			return 2
		default:
			problems, err := boltCheck(db)
			_ = db.Close()
			if err != nil {
				fmt.Fprintf(stderr, "serialine-edge check: %v\n", err)
				return 2
			}
			rep.Bolt = "consistency check passed"
			for _, p := range problems {
				rep.Bolt = "consistency check FAILED"
				rep.Damage = append(rep.Damage, Damage{Page: -1, What: "bbolt's consistency check: " + p})
			}
		}
	}
	printReport(stdout, rep)
	if rep.Damaged() {
		return 1
	}
	return 0
}

func printReport(w io.Writer, r Report) {
	fmt.Fprintf(w, "file         %s\n", r.Path)
	fmt.Fprintf(w, "size         %d bytes", r.Size)
	if r.PageSize > 0 {
		fmt.Fprintf(w, ", page size %d", r.PageSize)
	}
	fmt.Fprintln(w)
	for i, m := range r.Meta {
		state := "valid"
		if !m.Valid {
			state = "DAMAGED: " + m.Problem
		} else if r.InUse == i {
			state = "valid, in use"
		}
		fmt.Fprintf(w, "meta page %d  transaction %d, %d pages: %s\n", i, m.TxID, m.Pages, state)
	}
	switch {
	case r.Walked == 0:
		fmt.Fprintln(w, "tree         not read")
	default:
		fmt.Fprintf(w, "tree         %d of %d pages read (the tree and the freelist), %d free; %d buckets, %d keys\n", r.Walked, r.Pages, r.Free, r.Buckets, r.Keys)
	}
	if r.Bolt != "" {
		fmt.Fprintf(w, "bbolt        %s\n", r.Bolt)
	}
	if !r.Damaged() {
		fmt.Fprintln(w, "result       clean")
		return
	}
	fmt.Fprintf(w, "result       DAMAGED\n")
	for _, d := range r.Damage {
		fmt.Fprintf(w, "  - %s\n", d)
	}
	fmt.Fprintln(w, Recovery(filepath.Dir(r.Path)))
}
