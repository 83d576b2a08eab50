package scanner

import "bytes"

// framer cuts a byte stream into lines at a terminator. It never holds more
// than max+len(term) bytes: a longer line is reported once as over-long and
// the rest of it is skipped up to the next terminator, so noise without
// terminators cannot grow memory or stall the reader.
type framer struct {
	term []byte
	max  int
	buf  []byte
	// skipping is set while the tail of an over-long line is being dropped.
	skipping bool
}

func newFramer(term []byte, max int) *framer {
	return &framer{term: term, max: max, buf: make([]byte, 0, max+len(term))}
}

// push feeds a chunk. line is called for every complete line (without the
// terminator; the slice is only valid during the call); overlong is called
// once per line that exceeds the cap, with the bytes seen so far.
func (f *framer) push(chunk []byte, line func([]byte), overlong func(head []byte)) {
	for len(chunk) > 0 {
		room := cap(f.buf) - len(f.buf)
		n := min(room, len(chunk))
		f.buf = append(f.buf, chunk[:n]...)
		chunk = chunk[n:]
		f.drain(line, overlong)
	}
}

func (f *framer) drain(line func([]byte), overlong func(head []byte)) {
	start := 0
	for {
		i := bytes.Index(f.buf[start:], f.term)
		if i < 0 {
			break
		}
		l := f.buf[start : start+i]
		switch {
		case f.skipping:
			f.skipping = false
		case len(l) > f.max:
			overlong(l)
		default:
			line(l)
		}
		start += i + len(f.term)
	}
	f.buf = f.buf[:copy(f.buf, f.buf[start:])]
	// A full buffer without a terminator holds more than max bytes of one
	// line; less than full may still end in the first bytes of a terminator.
	if len(f.buf) == cap(f.buf) {
		if !f.skipping {
			overlong(f.buf)
			f.skipping = true
		}
		// Keep only what could be the start of a terminator.
		keep := len(f.term) - 1
		f.buf = f.buf[:copy(f.buf, f.buf[len(f.buf)-keep:])]
	}
}

// pending returns the bytes of an unfinished line (nil while skipping).
func (f *framer) pending() []byte {
	if f.skipping {
		return nil
	}
	return f.buf
}

// reset drops any partial line, for a new connection.
func (f *framer) reset() {
	f.buf = f.buf[:0]
	f.skipping = false
}
