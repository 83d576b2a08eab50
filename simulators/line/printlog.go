package line

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/serialine/serialine/shared/gs1"
)

// printLogFlushEvery bounds how stale the file on disk may be while the line
// runs; Close flushes whatever is left.
const printLogFlushEvery = time.Second

// printLogEntry is one line of the print log. Data holds the bracketed
// element string; Raw (with Error) is used instead when the printed data is
// not a valid GS1 element string, so that nothing printed goes unrecorded.
type printLogEntry struct {
	At    string  `json:"at"`
	Data  string  `json:"data,omitempty"`
	Raw   *string `json:"raw,omitempty"` // a pointer so that empty data is logged too
	Error string  `json:"error,omitempty"`
}

// PrintLog appends one JSON line per label the printer produced. Writes go to
// a buffer (the printer's hot path never waits on the disk); a background
// goroutine flushes it every second and Close flushes the rest, so the file is
// complete after a clean stop.
type PrintLog struct {
	path string

	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	lines   int
	err     error // first write or flush error, reported by Close
	enc     []byte
	closed  bool
	stop    chan struct{}
	stopped chan struct{}
}

// OpenPrintLog opens (creating or appending to) the print log at path.
func OpenPrintLog(path string) (*PrintLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("print log %q: %w", path, err)
	}
	p := &PrintLog{
		path:    path,
		f:       f,
		w:       bufio.NewWriterSize(f, 64<<10),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go p.flusher()
	return p, nil
}

// Append records one printed label: data is the content of the symbol in
// transmitted form (GS separators), as the printer simulator reports it.
func (p *PrintLog) Append(at time.Time, data string) error {
	e := printLogEntry{At: at.Format(time.RFC3339Nano)}
	if es, err := gs1.ParseTransmitted(data); err == nil {
		e.Data = es.Bracketed()
	} else {
		e.Raw, e.Error = &data, err.Error()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("print log %q: %w", p.path, os.ErrClosed)
	}
	b, err := json.Marshal(e)
	if err != nil { // cannot happen for strings; kept so no entry vanishes silently
		return fmt.Errorf("print log %q: %w", p.path, err)
	}
	p.enc = append(append(p.enc[:0], b...), '\n')
	if _, err := p.w.Write(p.enc); err != nil {
		p.setErr(err)
		return fmt.Errorf("print log %q: %w", p.path, err)
	}
	p.lines++
	return nil
}

// Lines returns how many entries have been appended since the log was opened.
func (p *PrintLog) Lines() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines
}

// Path returns the file the log writes to.
func (p *PrintLog) Path() string { return p.path }

// Flush writes the buffered entries to the file.
func (p *PrintLog) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if err := p.w.Flush(); err != nil {
		p.setErr(err)
		return fmt.Errorf("print log %q: %w", p.path, err)
	}
	return nil
}

// Close flushes the buffer and closes the file. It is safe to call twice.
func (p *PrintLog) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.stop)
	ferr := p.w.Flush()
	cerr := p.f.Close()
	err := errors.Join(p.err, ferr, cerr)
	p.mu.Unlock()
	<-p.stopped
	if err != nil {
		return fmt.Errorf("print log %q: %w", p.path, err)
	}
	return nil
}

func (p *PrintLog) setErr(err error) {
	if p.err == nil {
		p.err = err
	}
}

func (p *PrintLog) flusher() {
	defer close(p.stopped)
	t := time.NewTicker(printLogFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			_ = p.Flush() // the error is kept and returned by Close
		}
	}
}
