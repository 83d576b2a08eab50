// Package dbcheck checks the edge agent's bbolt file (DATA/edge.db) before
// the agent trusts it, and opens it only when it is sound.
//
// bbolt keeps two meta pages and, when the newer one is bad, silently falls
// back to the older one: an older state of the store, with an acked seq and
// a serial reservation from the past. It also maps the file into memory, so
// a truncated file faults (SIGBUS) and a damaged page panics. This package
// reads the file with plain reads first, with no memory map, and judges
// what it finds: both meta pages and their checksums (either bad is
// refused), the file's size against the page size and the high-water mark,
// and every page of the tree from the root bucket down (page ids, types,
// element bounds, key order within a page, the freelist), within a page
// budget. Only a file that passes is handed to bbolt, whose own consistency
// check (tx.Check) then runs when the file is within the budget.
//
// The on-disk format read here is bbolt v1.x's (go.etcd.io/bbolt
// internal/common: page header, meta, branch and leaf elements, bucket
// header), in the machine's byte order, as bbolt writes it.
package dbcheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"
	"os"
	"slices"
	"strings"
	"time"
)

// bbolt's on-disk format (go.etcd.io/bbolt/internal/common).
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	metaSumSize    = 56 // the meta's bytes before its checksum
	metaSize       = 64
	elemSize       = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHdrSize  = 16 // root pgid u64, sequence u64

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10

	leafBucket = 0x01
	noFreelist = ^uint64(0)

	minPageSize = 1024
	maxPageSize = 1 << 24 // bbolt looks for the second meta page up to 16 MiB
)

var ord = binary.NativeEndian

// Damage is one thing wrong with the file.
type Damage struct {
	// Page is the page concerned, -1 for the file as a whole.
	Page int64 `json:"page"`
	// What says what is wrong, in words an operator can pass on.
	What string `json:"what"`
}

func (d Damage) String() string {
	if d.Page < 0 || (d.Page < 2 && strings.HasPrefix(d.What, "meta page")) {
		return d.What
	}
	return fmt.Sprintf("page %d: %s", d.Page, d.What)
}

// Meta describes one of the two meta pages.
type Meta struct {
	Valid bool   `json:"valid"`
	TxID  uint64 `json:"txid"`
	// Pages is the high-water mark it records (pages in use).
	Pages uint64 `json:"pages"`
	// Problem says why it is not valid.
	Problem string `json:"problem,omitempty"`
}

// Report is what a check found.
type Report struct {
	Path     string  `json:"path"`
	Size     int64   `json:"size"`
	PageSize int     `json:"page_size"`
	Meta     [2]Meta `json:"meta"`
	// InUse is the meta page bbolt would use (the newer valid one), -1 if none.
	InUse int `json:"in_use"`
	// Pages is the store's high-water mark: pages 0 .. Pages-1 are in use or free.
	Pages uint64 `json:"pages"`
	// Walked counts the pages of the tree checked; Complete is false when
	// the page budget stopped the walk before the end.
	Walked   uint64 `json:"walked"`
	Complete bool   `json:"complete"`
	Buckets  int    `json:"buckets"`
	Keys     uint64 `json:"keys"`
	Free     int    `json:"free_pages"`
	// Bolt is the outcome of bbolt's own consistency check (tx.Check), when
	// it ran (Open and Command fill it in).
	Bolt   string        `json:"bolt,omitempty"`
	Damage []Damage      `json:"damage"`
	Took   time.Duration `json:"took_ns"`
}

// Damaged reports whether anything was found wrong.
func (r Report) Damaged() bool { return len(r.Damage) > 0 }

// maxDamage bounds the list: a badly damaged file would list every page.
const maxDamage = 50

func (r *Report) add(page int64, format string, args ...any) {
	if len(r.Damage) == maxDamage {
		r.Damage = append(r.Damage, Damage{Page: -1, What: "more damage not listed"})
	}
	if len(r.Damage) > maxDamage {
		return
	}
	r.Damage = append(r.Damage, Damage{Page: page, What: fmt.Sprintf(format, args...)})
}

// Check reads the bbolt file at path and reports its damage. budget bounds
// the pages of the tree read (0: every page). The error is for a file that
// cannot be read at all (missing, permissions); damage is in the report. A
// 0-byte file is damage: bbolt never leaves one, and opening it would make
// a new, empty store.
func Check(path string, budget uint64) (rep Report, err error) {
	start := time.Now()
	rep = Report{Path: path, InUse: -1}
	defer func() {
		// A parser bug must not take the agent down: report it as what it is.
		if r := recover(); r != nil {
			err = fmt.Errorf("dbcheck: %s: checking stopped by an internal error: %v", path, r)
		}
		rep.Took = time.Since(start)
	}()
	f, err := os.Open(path)
	if err != nil {
		return rep, fmt.Errorf("dbcheck: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return rep, fmt.Errorf("dbcheck: %w", err)
	}
	if !st.Mode().IsRegular() {
		return rep, fmt.Errorf("dbcheck: %s: not a regular file (%s)", path, st.Mode().Type())
	}
	c := &checker{f: f, rep: &rep, size: st.Size(), budget: budget}
	rep.Size = c.size
	if err := c.run(); err != nil {
		return rep, fmt.Errorf("dbcheck: %s: %w", path, err)
	}
	return rep, nil
}

type checker struct {
	f      *os.File
	rep    *Report
	size   int64
	budget uint64
	ps     int
	hwm    uint64
	seen   []uint64 // bitset of the pages reached
	buf    []byte   // one page, reused
}

type meta struct {
	magic, version, pageSize, flags uint32
	root, seq, freelist, pgid, txid uint64
	checksum, sum                   uint64
	hdrID                           uint64
	hdrFlags                        uint16
	zero                            bool
}

func parseMeta(page []byte) meta {
	b := page[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	h.Write(b[:metaSumSize])
	return meta{
		hdrID: ord.Uint64(page[0:]), hdrFlags: ord.Uint16(page[8:]),
		magic: ord.Uint32(b[0:]), version: ord.Uint32(b[4:]), pageSize: ord.Uint32(b[8:]), flags: ord.Uint32(b[12:]),
		root: ord.Uint64(b[16:]), seq: ord.Uint64(b[24:]), freelist: ord.Uint64(b[32:]), pgid: ord.Uint64(b[40:]),
		txid: ord.Uint64(b[48:]), checksum: ord.Uint64(b[56:]), sum: h.Sum64(),
		zero: allZero(page[:pageHeaderSize+metaSize]),
	}
}

// problem says why bbolt would refuse m, or what makes it unusable; "" if
// it is sound.
func (m meta) problem(id int) string {
	switch {
	case m.zero:
		return "all zeros (the page was wiped)"
	case m.magic != boltMagic:
		return fmt.Sprintf("not a bbolt meta page (magic %#08x, want %#08x)", m.magic, uint32(boltMagic))
	case m.version != boltVersion:
		return fmt.Sprintf("bbolt format version %d (want %d)", m.version, boltVersion)
	case m.checksum != m.sum:
		return fmt.Sprintf("checksum mismatch (stored %#016x, computed %#016x)", m.checksum, m.sum)
	case m.hdrFlags != flagMeta:
		return fmt.Sprintf("page type %#02x in its header, want meta (%#02x)", m.hdrFlags, flagMeta)
	case m.pageSize < minPageSize || m.pageSize > maxPageSize || bits.OnesCount32(m.pageSize) != 1:
		return fmt.Sprintf("page size %d is not a power of two between %d and %d", m.pageSize, minPageSize, maxPageSize)
	case m.pgid < 4:
		return fmt.Sprintf("high-water mark %d below the 4 pages of a new store", m.pgid)
	case m.root < 2 || m.root >= m.pgid:
		return fmt.Sprintf("root bucket page %d outside pages 2..%d", m.root, m.pgid-1)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.pgid):
		return fmt.Sprintf("freelist page %d outside pages 2..%d", m.freelist, m.pgid-1)
	case m.txid%2 != uint64(id):
		return fmt.Sprintf("transaction %d belongs in meta page %d", m.txid, m.txid%2)
	}
	return ""
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// readAt reads exactly len(b) bytes at off; a short read is reported as
// io.ErrUnexpectedEOF (the file ends there).
func (c *checker) readAt(b []byte, off int64) error {
	n, err := c.f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// run checks the file step by step: its size, the meta pages, the meta page
// in use, then the page tree and the freelist.
//
// It is long because each step uses what the one before settled (page size, meta in
// use, high-water mark) and may end the check with its report.
func (c *checker) run() error {
	rep := c.rep
	if c.size == 0 {
		rep.add(-1, "the file is empty (0 bytes): bbolt never leaves one, so it is not a store this agent made; opening it would start a new, empty store")
		return nil
	}
	if c.size < minPageSize {
		rep.add(-1, "the file is %d bytes, less than one page: it was cut short", c.size)
		return nil
	}
	first := make([]byte, min(c.size, 4096))
	if err := c.readAt(first, 0); err != nil {
		return err
	}
	m0 := parseMeta(first)
	switch {
	case m0.problem(0) == "":
		c.ps = int(m0.pageSize)
	default:
		// Where meta page 1 is depends on the page size, which meta page 0
		// should have told: look where bbolt looks.
		for ps := int64(minPageSize); ps <= maxPageSize && ps+pageHeaderSize+metaSize <= c.size; ps *= 2 {
			buf := make([]byte, pageHeaderSize+metaSize)
			if err := c.readAt(buf, ps); err != nil {
				return err
			}
			if m := parseMeta(buf); m.problem(1) == "" && int64(m.pageSize) == ps {
				c.ps = int(ps)
				break
			}
		}
	}
	if c.ps == 0 {
		rep.Meta[0] = Meta{Problem: m0.problem(0), TxID: m0.txid, Pages: m0.pgid}
		rep.Meta[1] = Meta{Problem: "no valid meta page 1 at any page size"}
		rep.add(0, "meta page 0: %s", rep.Meta[0].Problem)
		rep.add(1, "meta page 1: not found valid at any page size from %d to %d bytes: both meta pages are damaged, nothing in the file can be trusted", minPageSize, maxPageSize)
		return nil
	}
	rep.PageSize = c.ps
	m1 := meta{}
	if c.size >= int64(c.ps)+pageHeaderSize+metaSize {
		second := make([]byte, pageHeaderSize+metaSize)
		if err := c.readAt(second, int64(c.ps)); err != nil {
			return err
		}
		m1 = parseMeta(second)
	}
	metas := [2]meta{m0, m1}
	for i, m := range metas {
		p := m.problem(i)
		rep.Meta[i] = Meta{Valid: p == "", TxID: m.txid, Pages: m.pgid, Problem: p}
	}
	if c.size < int64(2*c.ps) {
		rep.add(-1, "the file is %d bytes, less than its two meta pages of %d bytes: it was cut short", c.size, c.ps)
		return nil
	}
	use := 0
	if rep.Meta[1].Valid && (!rep.Meta[0].Valid || m1.txid > m0.txid) {
		use = 1
	}
	if other := 1 - use; !rep.Meta[other].Valid {
		// bbolt would use the other one without a word: quite possibly an
		// older state of the store than the last one committed.
		m, u := metas[other], metas[use]
		var why string
		switch {
		case m.magic == boltMagic && m.txid > u.txid:
			why = fmt.Sprintf("by its transaction number (%d) it was the newer one: bbolt would silently fall back to meta page %d (transaction %d), an older state of the store", m.txid, use, u.txid)
		case m.magic == boltMagic && m.txid < u.txid:
			why = fmt.Sprintf("it was the older one (transaction %d): the newer state may be whole, but something damaged the file", m.txid)
		default:
			why = fmt.Sprintf("nobody can tell any more whether it was the newer one: bbolt would silently use meta page %d (transaction %d), possibly an older state of the store", use, u.txid)
		}
		rep.add(int64(other), "meta page %d: %s; %s. Refused rather than risk rolling the outbox and the serial pool back", other, rep.Meta[other].Problem, why)
	}
	mu := metas[use]
	rep.InUse, rep.Pages = use, mu.pgid
	c.hwm = mu.pgid
	if rem := c.size % int64(c.ps); rem != 0 {
		rep.add(-1, "the file is %d bytes, not a whole number of %d-byte pages (%d bytes over): it was cut short or written by something other than bbolt", c.size, c.ps, rem)
	}
	for i, m := range metas {
		if rep.Meta[i].Valid && m.pgid > uint64(c.size/int64(c.ps)) {
			rep.add(-1, "the file ends after page %d but meta page %d says pages up to %d are in use: it was cut short (%d bytes, %d needed)",
				c.size/int64(c.ps)-1, i, m.pgid-1, c.size, m.pgid*uint64(c.ps))
			return nil
		}
	}
	if rep.Damaged() {
		return nil // the tree of a store refused already is not worth reading
	}
	c.seen = make([]uint64, (c.hwm+63)/64)
	c.buf = make([]byte, c.ps)
	c.mark(0)
	c.mark(1)
	if err := c.walk(mu.root); err != nil {
		return err
	}
	if mu.freelist != noFreelist {
		if err := c.freelist(mu.freelist); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) mark(id uint64)        { c.seen[id/64] |= 1 << (id % 64) }
func (c *checker) marked(id uint64) bool { return c.seen[id/64]&(1<<(id%64)) != 0 }

// ref is a page to visit and where it was found.
type ref struct {
	id     uint64
	bucket string // bucket path, "" for the root bucket
	from   uint64 // the page that points to it (0: the meta page)
}

func (r ref) where() string {
	b := "the root bucket"
	if r.bucket != "" {
		b = fmt.Sprintf("bucket %q", r.bucket)
	}
	if r.from == 0 {
		return b
	}
	return fmt.Sprintf("%s, referenced from page %d", b, r.from)
}

// walk visits the tree breadth first from the root bucket's page, so that
// a budget cut still covers the upper levels of every bucket.
func (c *checker) walk(root uint64) error {
	rep := c.rep
	queue := []ref{{id: root}}
	rep.Buckets = 1
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		if c.budget > 0 && rep.Walked >= c.budget {
			return nil // Complete stays false
		}
		if r.id < 2 || r.id >= c.hwm {
			rep.add(int64(r.id), "in %s: points beyond the store's pages 2..%d", r.where(), c.hwm-1)
			continue
		}
		if c.marked(r.id) {
			rep.add(int64(r.id), "in %s: referenced twice (a loop or a cross-link in the tree)", r.where())
			continue
		}
		// One read per page, into a buffer reused for the next one: nothing
		// keeps a slice of it past elements.
		page := c.buf[:c.ps]
		if err := c.readAt(page, int64(r.id)*int64(c.ps)); err != nil {
			return err
		}
		overflow := uint64(ord.Uint32(page[12:]))
		if r.id+overflow >= c.hwm {
			rep.add(int64(r.id), "in %s: %s, its %d overflow pages run beyond the store's last page %d", r.where(), describeHeader(page[:pageHeaderSize], r.id), overflow, c.hwm-1)
			continue
		}
		if overflow > 0 {
			page = make([]byte, (overflow+1)*uint64(c.ps))
			if err := c.readAt(page, int64(r.id)*int64(c.ps)); err != nil {
				return err
			}
		}
		for i := uint64(0); i <= overflow; i++ {
			if c.marked(r.id + i) {
				rep.add(int64(r.id+i), "in %s: overflow of page %d and also used elsewhere", r.where(), r.id)
			}
			c.mark(r.id + i)
		}
		rep.Walked += overflow + 1
		if id := ord.Uint64(page[0:]); id != r.id || (page[8] != flagBranch && page[8] != flagLeaf) || page[9] != 0 {
			rep.add(int64(r.id), "in %s: %s, want a branch or leaf page", r.where(), describeHeader(page, r.id))
			continue
		}
		children, err := c.elements(page, r, rep)
		if err != nil {
			rep.add(int64(r.id), "in %s: %v", r.where(), err)
			continue
		}
		queue = append(queue, children...)
	}
	rep.Complete = true
	return nil
}

// describeHeader says what a page's header holds, naming a wiped page.
func describeHeader(p []byte, want uint64) string {
	if allZero(p) {
		return "all zeros (the page was wiped)"
	}
	id, flags := ord.Uint64(p[0:]), ord.Uint16(p[8:])
	var b strings.Builder
	fmt.Fprintf(&b, "header says page %d", id)
	if id != want {
		fmt.Fprintf(&b, " (not %d)", want)
	}
	fmt.Fprintf(&b, ", type %#02x", flags)
	switch flags {
	case flagBranch:
		b.WriteString(" (branch)")
	case flagLeaf:
		b.WriteString(" (leaf)")
	case flagMeta:
		b.WriteString(" (meta)")
	case flagFreelist:
		b.WriteString(" (freelist)")
	default:
		b.WriteString(" (no such type)")
	}
	return b.String()
}

// elements checks a branch or leaf page's elements (page is the page with
// its overflow pages, or an inline bucket's page) and returns the pages it
// points to: children of a branch, roots of sub-buckets of a leaf.
func (c *checker) elements(page []byte, r ref, rep *Report) ([]ref, error) {
	flags, count := ord.Uint16(page[8:]), int(ord.Uint16(page[10:]))
	if pageHeaderSize+count*elemSize > len(page) {
		return nil, fmt.Errorf("%d elements do not fit in the page's %d bytes", count, len(page))
	}
	if flags == flagBranch && count == 0 {
		return nil, errors.New("a branch page with no elements")
	}
	var out []ref
	var prev []byte
	for i := range count {
		e := pageHeaderSize + i*elemSize
		var pos, ksize, vsize uint64
		if flags == flagBranch {
			pos, ksize = uint64(ord.Uint32(page[e:])), uint64(ord.Uint32(page[e+4:]))
		} else {
			pos, ksize, vsize = uint64(ord.Uint32(page[e+4:])), uint64(ord.Uint32(page[e+8:])), uint64(ord.Uint32(page[e+12:]))
		}
		ks := uint64(e) + pos
		if ks+ksize+vsize > uint64(len(page)) {
			return nil, fmt.Errorf("element %d (key at %d, %d + %d bytes) runs past the end of the page (%d bytes)", i, ks, ksize, vsize, len(page))
		}
		if ksize == 0 {
			return nil, fmt.Errorf("element %d has an empty key", i)
		}
		key := page[ks : ks+ksize]
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			return nil, fmt.Errorf("element %d: keys out of order (%q after %q)", i, printable(key), printable(prev))
		}
		prev = key
		if flags == flagBranch {
			out = append(out, ref{id: ord.Uint64(page[e+8:]), bucket: r.bucket, from: r.id})
			continue
		}
		rep.Keys++
		if ord.Uint32(page[e:])&leafBucket == 0 {
			continue
		}
		rep.Buckets++
		val := page[ks+ksize : ks+ksize+vsize]
		name := printable(key)
		if r.bucket != "" {
			name = r.bucket + "/" + name
		}
		if len(val) < bucketHdrSize {
			return nil, fmt.Errorf("sub-bucket %q: header of %d bytes, want %d", name, len(val), bucketHdrSize)
		}
		if root := ord.Uint64(val); root != 0 {
			out = append(out, ref{id: root, bucket: name, from: r.id})
			continue
		}
		// An inline bucket: its leaf page is in the value.
		in := val[bucketHdrSize:]
		if len(in) < pageHeaderSize || ord.Uint16(in[8:]) != flagLeaf {
			return nil, fmt.Errorf("inline bucket %q: not a leaf page", name)
		}
		sub, err := c.elements(in, ref{id: r.id, bucket: name, from: r.from}, rep)
		if err != nil {
			return nil, fmt.Errorf("inline bucket %q: %w", name, err)
		}
		out = append(out, sub...)
	}
	return out, nil
}

// printable shows a key for a message: text as is, binary in hex, both cut.
func printable(k []byte) string {
	if len(k) > 32 {
		k = k[:32]
	}
	for _, c := range k {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%x", k)
		}
	}
	return string(k)
}

// freelist checks the freelist page: its type, its size, and that every
// free page is one of the store's and not also in use.
func (c *checker) freelist(id uint64) error {
	rep := c.rep
	hdr := make([]byte, pageHeaderSize)
	if err := c.readAt(hdr, int64(id)*int64(c.ps)); err != nil {
		return err
	}
	overflow := uint64(ord.Uint32(hdr[12:]))
	if ord.Uint64(hdr[0:]) != id || ord.Uint16(hdr[8:]) != flagFreelist || id+overflow >= c.hwm {
		rep.add(int64(id), "the freelist: %s, want the freelist page (type %#02x) within the store's pages", describeHeader(hdr, id), flagFreelist)
		return nil
	}
	if c.budget > 0 && rep.Walked+overflow+1 > c.budget {
		return nil
	}
	page := make([]byte, (overflow+1)*uint64(c.ps))
	if err := c.readAt(page, int64(id)*int64(c.ps)); err != nil {
		return err
	}
	rep.Walked += overflow + 1
	for i := uint64(0); i <= overflow; i++ {
		if c.marked(id + i) {
			rep.add(int64(id+i), "the freelist's page is also used by the tree")
		}
		c.mark(id + i)
	}
	idx, count := uint64(0), uint64(ord.Uint16(page[10:]))
	if count == 0xFFFF { // the real count is the first element
		idx, count = 1, ord.Uint64(page[pageHeaderSize:])
	}
	if count > (uint64(len(page))-pageHeaderSize)/8-idx {
		rep.add(int64(id), "the freelist lists %d pages, more than its %d bytes hold", count, len(page))
		return nil
	}
	ids := make([]uint64, count)
	for i := range ids {
		ids[i] = ord.Uint64(page[pageHeaderSize+(idx+uint64(i))*8:])
	}
	slices.Sort(ids)
	rep.Free = len(ids)
	for i, f := range ids {
		switch {
		case f < 2 || f >= c.hwm:
			rep.add(int64(id), "the freelist lists page %d, outside the store's pages 2..%d", f, c.hwm-1)
		case i > 0 && ids[i-1] == f:
			rep.add(int64(id), "the freelist lists page %d twice", f)
		case c.marked(f) && rep.Complete:
			rep.add(int64(f), "listed as free, but in use")
		}
	}
	return nil
}
