package dbcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// StartBudget is the page budget of the check at Open: 262,144 pages (1 GiB
// of 4 KiB pages), far beyond an edge store's size, so in practice every
// page is checked; a bigger file gets the meta, size and upper-tree checks,
// a warning, and `serialine-edge check` for the rest.
const StartBudget = 1 << 18

// DefaultLockTimeout is how long Open waits for another process's lock.
const DefaultLockTimeout = 2 * time.Second

// ErrLocked means another process holds the file: another agent on the
// same data folder, or a check running.
var ErrLocked = errors.New("locked by another process")

// DamagedError refuses a damaged file: it names the file, the damage and
// the recovery steps.
type DamagedError struct {
	Report Report
}

func (e *DamagedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is damaged; the agent will not start on it and has changed nothing:", e.Report.Path)
	for _, d := range e.Report.Damage {
		fmt.Fprintf(&b, "\n  - %s", d)
	}
	b.WriteString("\n")
	b.WriteString(Recovery(filepath.Dir(e.Report.Path)))
	return b.String()
}

// Recovery is the recovery procedure for a damaged store in dir
// (docs/operations.md, "A damaged edge database").
func Recovery(dir string) string {
	aside := dir + ".damaged-" + time.Now().Format("20060102-1504")
	return fmt.Sprintf(`What to do (docs/operations.md, "A damaged edge database"):
  1. Keep the file as it is: do not delete, repair or overwrite it; QA may need it.
  2. Move the whole data folder aside:  mv %s %s
  3. Start the agent again on an empty data folder (the same path). It starts a new
     event-store incarnation; central sees it, and QA dispositions the events and serials
     the damaged store held.
  serialine-edge check --data %s prints the full check of the damaged store.`, dir, aside, aside)
}

// Options tune Open; the zero value is the agent's.
type Options struct {
	// Budget bounds the pages checked (0: StartBudget).
	Budget uint64
	// LockTimeout is how long to wait for another process's lock (0:
	// DefaultLockTimeout).
	LockTimeout time.Duration
}

// Open checks the bbolt file at path and opens it. A damaged file is
// refused with a *DamagedError, a file another process holds with
// ErrLocked; neither panics, whatever the file holds (a memory fault in
// bbolt's mapping of it becomes an error). A missing file is a new store,
// created with a warning; a 0-byte file is refused, never taken for one.
func Open(path string, opt Options, log *slog.Logger) (*bolt.DB, error) {
	if opt.Budget == 0 {
		opt.Budget = StartBudget
	}
	if opt.LockTimeout == 0 {
		opt.LockTimeout = DefaultLockTimeout
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		log.Warn("no store in the data folder: creating a new, empty one (a first start, or the start after a damaged store was moved aside)", "file", path)
		return openBolt(path, &bolt.Options{Timeout: opt.LockTimeout}, Report{Path: path})
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// bbolt creates the store 0600 but leaves an existing file's mode: a
	// store copied or restored 0644 holds the line's pool of serials and
	// its events, for the owner only.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("open %s: readable by others (%v) and cannot be made 0600: %w", path, perm, err)
		}
		log.Warn("store file was readable by others; made it 0600", "file", path, "was", perm.String())
	}
	// Hold the lock while reading, so that a running agent's writes are
	// never taken for damage; bbolt takes its own below.
	unlock, err := lockShared(path, opt.LockTimeout)
	if err != nil {
		return nil, err
	}
	rep, err := Check(path, opt.Budget)
	unlock()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if rep.Damaged() {
		return nil, &DamagedError{Report: rep}
	}
	db, err := openBolt(path, &bolt.Options{Timeout: opt.LockTimeout}, rep)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	if rep.Complete {
		problems, err := boltCheck(db)
		if err != nil || len(problems) > 0 {
			_ = db.Close()
			if err != nil {
				return nil, fmt.Errorf("open %s: %w", path, err)
			}
			for _, p := range problems {
				rep.Damage = append(rep.Damage, Damage{Page: -1, What: "bbolt's consistency check: " + p})
			}
			return nil, &DamagedError{Report: rep}
		}
		rep.Bolt = "passed"
	} else {
		rep.Bolt = "skipped: the file is beyond the start budget"
		log.Warn("store check at start stopped at its page budget; stop the agent and run serialine-edge check for the full check",
			"file", path, "pages", rep.Pages, "checked", rep.Walked, "budget", opt.Budget)
	}
	log.Info("store checked", "file", path, "size", rep.Size, "page_size", rep.PageSize, "pages", rep.Pages,
		"walked", rep.Walked, "complete", rep.Complete, "buckets", rep.Buckets, "keys", rep.Keys,
		"bbolt_check", rep.Bolt, "took", (rep.Took + time.Since(started)).Round(time.Microsecond))
	return db, nil
}

// openBolt opens the file with bbolt, turning a panic or a memory fault
// while bbolt reads its pages into a *DamagedError.
func openBolt(path string, o *bolt.Options, rep Report) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// The file and its lock stay open: bbolt gave no handle to
			// close; the agent exits on this error.
			what := fmt.Sprintf("bbolt could not open it: %v", r)
			if f, ok := r.(interface{ Addr() uintptr }); ok {
				what = fmt.Sprintf("bbolt faulted reading the file's pages (at address %#x): the file is shorter than the pages it uses, or its pages are damaged", f.Addr())
			}
			rep.Damage = append(rep.Damage, Damage{Page: -1, What: what})
			db, err = nil, &DamagedError{Report: rep}
		}
	}()
	db, err = bolt.Open(path, 0o600, o)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, lockedError(path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		rep.Damage = append(rep.Damage, Damage{Page: -1, What: fmt.Sprintf("bbolt refuses it: %v", err)})
		return nil, &DamagedError{Report: rep}
	}
	return nil, fmt.Errorf("open %s: %w", path, err)
}

// boltCheck runs bbolt's consistency check over the whole file.
func boltCheck(db *bolt.DB) (problems []string, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	err = db.View(func(tx *bolt.Tx) error {
		// Drain the channel: the check's goroutine reads the mapped file
		// until it closes it, so the transaction must outlive it.
		for e := range tx.Check() {
			if len(problems) < maxDamage {
				problems = append(problems, e.Error())
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bbolt consistency check: %w", err)
	}
	return problems, nil
}

func lockedError(path string) error {
	return fmt.Errorf("open %s: %w (is another agent using this data folder?)", path, ErrLocked)
}

// lockShared takes a shared lock on path (the lock bbolt takes: a flock, or
// on Windows a byte-range lock; lock_*.go), waiting up to timeout, and
// returns its release.
func lockShared(path string, timeout time.Duration) (func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		busy, err := tryLockShared(f)
		if err == nil {
			return func() { _ = f.Close() }, nil // closing releases the lock
		}
		if !busy {
			_ = f.Close()
			return nil, fmt.Errorf("open %s: lock: %w", path, err)
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, lockedError(path)
		}
		time.Sleep(50 * time.Millisecond) // as bbolt polls its own lock
	}
}
