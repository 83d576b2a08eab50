package station

import (
	"fmt"
	"sort"
	"unsafe"

	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// maxData bounds a unit's transmitted element string: GTIN, expiry, lot,
// national numbers and serial need far less.
const maxData = 160

// maxText is the most human-readable lines a label template may have.
const maxText = 8

// template is an order's label with the serial left out: everything but
// the serial is built and validated once, when the order starts, so that a
// unit costs two copies into preallocated buffers.
type template struct {
	order    wire.Order
	prefix   []byte   // transmitted element string up to and including "21"
	text     []string // human-readable lines; text[snLine] is replaced per unit
	snLine   int
	minGrade scanner.Grade
}

// newTemplate builds the label template of o for a layout with textLines
// lines. The element string is (01)(17)(10), the order's national numbers
// (AI 710-715), and (21) last, so that the serial ends the transmitted data
// and needs no separator.
func newTemplate(o wire.Order, textLines int, defaultGrade scanner.Grade) (*template, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("order %q: %w", o.ID, err)
	}
	const probe = "0"
	es := gs1.ElementString{{AI: "01", Value: o.GTIN}, {AI: "17", Value: o.Expiry}, {AI: "10", Value: o.Lot}}
	ais := make([]string, 0, len(o.National))
	for ai := range o.National {
		ais = append(ais, ai)
	}
	sort.Strings(ais)
	for _, ai := range ais {
		es = append(es, gs1.Element{AI: ai, Value: o.National[ai]})
	}
	es = append(es, gs1.Element{AI: "21", Value: probe})
	if err := es.Validate(); err != nil {
		return nil, fmt.Errorf("order %q: label: %w", o.ID, err)
	}
	sorted := es.Sorted()
	if sorted[len(sorted)-1].AI != "21" {
		return nil, fmt.Errorf("order %q: label: the serial (21) must come last", o.ID)
	}
	data := sorted.AppendTransmitted(nil)
	t := &template{order: o, prefix: data[:len(data)-len(probe)]}

	u := Unit{Elements: sorted, Name: o.Product}
	lines := u.Text()
	if len(lines) > textLines && o.Product != "" {
		lines = Unit{Elements: sorted}.Text() // the product name is the first to go
	}
	if len(lines) > textLines || len(lines) > maxText {
		return nil, fmt.Errorf("order %q: label needs %d text lines (%v), the printer layout has %d", o.ID, len(lines), lines, textLines)
	}
	t.snLine = -1
	for i, l := range lines {
		if l == "SN "+probe {
			t.snLine = i
		}
	}
	if t.snLine < 0 {
		return nil, fmt.Errorf("order %q: label text has no serial line", o.ID)
	}
	t.text = lines

	t.minGrade = defaultGrade
	if o.MinGrade != "" {
		g, err := scanner.ParseGrade(o.MinGrade)
		if err != nil {
			return nil, fmt.Errorf("order %q: min_grade: %w", o.ID, err)
		}
		t.minGrade = g
	}
	return t, nil
}

// slotKind says what a unit on the conveyor is to the station.
type slotKind uint8

const (
	// ghost: on the conveyor before the station started (or of an order
	// closed while in flight); rejected if the camera reports it.
	ghost slotKind = iota + 1
	// blank: no label was printed for it (line not running, pool empty,
	// printer refused); always rejected.
	blank
	// printed: carries one of our serials; verified at the camera.
	printed
)

// slot is one unit between the print station and the camera. Its buffers
// are reused unit after unit, so the trigger path allocates nothing.
type slot struct {
	n      uint32
	kind   slotKind
	tpl    *template
	unit   unitRef
	data   [maxData]byte
	ndata  int
	serial int // offset of the serial in data
	sn     [3 + 20]byte
	nsn    int
	text   [maxText]string
	at     int64 // trigger time, unix ns
}

// unitRef is what the pool said about the unit's serial.
type unitRef struct {
	position, counter uint64
}

// dataString views the unit's data without copying. Slot buffers change
// only when the slot is reused for a later unit, after the printer has
// copied the job and the result has been compared.
func (s *slot) dataString() string { return unsafe.String(&s.data[0], s.ndata) }

// unsafeString views b (a slot buffer) as a string without copying.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (s *slot) serialString() string {
	return string(s.data[s.serial:s.ndata]) // copied: it outlives the slot
}

// fifo is a ring of slots, oldest first.
type fifo struct {
	s          []slot
	head, size int
}

func newFIFO(capacity int) *fifo { return &fifo{s: make([]slot, capacity)} }

func (f *fifo) len() int       { return f.size }
func (f *fifo) full() bool     { return f.size == len(f.s) }
func (f *fifo) at(i int) *slot { return &f.s[(f.head+i)%len(f.s)] }
func (f *fifo) front() *slot   { return f.at(0) }
func (f *fifo) back() *slot    { return f.at(f.size - 1) }

// push returns the next free slot, cleared of its kind and template.
func (f *fifo) push() *slot {
	s := f.at(f.size)
	f.size++
	s.kind, s.tpl, s.ndata, s.nsn = 0, nil, 0, 0
	return s
}

func (f *fifo) pop() {
	f.head = (f.head + 1) % len(f.s)
	f.size--
}

func (f *fifo) dropBack() { f.size-- }

// find returns the index of the printed unit whose data is d, or -1.
func (f *fifo) find(d string) int {
	for i := range f.size {
		s := f.at(i)
		if s.kind == printed && s.dataString() == d {
			return i
		}
	}
	return -1
}

// recentData remembers the data of the last decided units, to recognise a
// label that went on a later unit than the one it was printed for.
type recentData struct {
	d   [64][maxData]byte
	n   [64]int
	pos int
}

func (r *recentData) add(b []byte) {
	r.n[r.pos] = copy(r.d[r.pos][:], b)
	r.pos = (r.pos + 1) % len(r.d)
}

func (r *recentData) has(d string) bool {
	for i := range r.d {
		if r.n[i] > 0 && r.n[i] == len(d) && unsafe.String(&r.d[i][0], r.n[i]) == d {
			return true
		}
	}
	return false
}
