package broker

import (
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// gate holds a line's publishes back while central has not acknowledged
// enough of its messages: at most perLine of a line's messages are in
// flight to central's service clients, and at most total of all lines'.
// The waiting happens on the publishing client's goroutine, so mochi stops
// reading that connection and TCP slows the line down; nobody else waits,
// and the broker never has to drop a message toward central because its
// window is full.
//
// Messages are counted from mochi's hooks: OnQosPublish when one is put in
// flight to a service client, OnQosComplete/OnQosDropped when it leaves.
// Each is known by (client, packet id), so a resend is not counted twice.
// Should a count ever go wrong, waiting publishers recount from the
// service clients' in-flight messages every resyncAfter.
type gate struct {
	perLine, total int
	clients        *mqtt.Clients
	isService      func(cl *mqtt.Client) bool
	lineOf         func(clientID string) string

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced when a count goes down
	byLine    map[string]int
	sum       int
	reserved  map[string]int // publishes past the gate, not yet delivered
	resSum    int
	inFlight  map[flightKey]string // → the line the message came from
	passed    map[string]string    // publishing client → the line of its reservation
	closed    bool
	closedSig chan struct{}
}

type flightKey struct {
	client string
	id     uint16
}

const resyncAfter = 5 * time.Second

func newGate(perLine, total int, clients *mqtt.Clients, isService func(*mqtt.Client) bool, lineOf func(string) string) *gate {
	return &gate{perLine: perLine, total: total, clients: clients, isService: isService, lineOf: lineOf,
		changed: make(chan struct{}), byLine: map[string]int{}, reserved: map[string]int{},
		inFlight: map[flightKey]string{}, passed: map[string]string{}, closedSig: make(chan struct{})}
}

// enter waits until line may have one more message in flight to central,
// and reserves the place. It reports false when the publisher's connection
// or the broker closed while it waited. waited is the time it was held
// back (0 when it was not); held is called when it starts to be.
func (g *gate) enter(cl *mqtt.Client, line string, held func()) (ok bool, waited time.Duration) {
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastSync := start
	waiting := false
	for {
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			return false, time.Since(start)
		}
		if g.byLine[line]+g.reserved[line] < g.perLine && g.sum+g.resSum < g.total {
			g.reserved[line]++
			g.resSum++
			g.passed[cl.ID] = line
			g.mu.Unlock()
			if !waiting {
				return true, 0
			}
			return true, time.Since(start)
		}
		if !waiting {
			waiting = true
			held()
		}
		changed := g.changed
		g.mu.Unlock()
		select {
		case <-changed:
		case <-g.closedSig:
		case now := <-tick.C:
			if cl.Closed() {
				return false, time.Since(start)
			}
			if now.Sub(lastSync) >= resyncAfter {
				lastSync = now
				g.resync()
			}
		}
	}
}

// left releases the reservation of the client's publish once mochi has
// processed it (delivered, or failed).
func (g *gate) left(clientID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	line, ok := g.passed[clientID]
	if !ok {
		return
	}
	delete(g.passed, clientID)
	g.reserved[line]--
	g.resSum--
	if g.reserved[line] <= 0 {
		delete(g.reserved, line)
	}
	g.signal()
}

// delivered counts a message put in flight to a service client.
func (g *gate) delivered(sub *mqtt.Client, pk packets.Packet) {
	if !g.isService(sub) || pk.FixedHeader.Type != packets.Publish {
		return
	}
	line := g.lineOf(pk.Origin)
	if line == "" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	k := flightKey{sub.ID, pk.PacketID}
	if _, ok := g.inFlight[k]; ok {
		return // a resend
	}
	g.inFlight[k] = line
	g.byLine[line]++
	g.sum++
}

// done uncounts a message that left a service client's flight window.
func (g *gate) done(sub *mqtt.Client, id uint16) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := flightKey{sub.ID, id}
	line, ok := g.inFlight[k]
	if !ok {
		return
	}
	delete(g.inFlight, k)
	if g.byLine[line]--; g.byLine[line] <= 0 {
		delete(g.byLine, line)
	}
	g.sum--
	g.signal()
}

// signal wakes the waiting publishers; g.mu is held.
func (g *gate) signal() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// resync recounts the messages in flight from the service clients'
// windows, mochi's own record.
func (g *gate) resync() {
	fresh := map[flightKey]string{}
	for _, cl := range g.clients.GetAll() {
		if !g.isService(cl) {
			continue
		}
		for _, pk := range cl.State.Inflight.GetAll(false) {
			if pk.FixedHeader.Type != packets.Publish {
				continue
			}
			if line := g.lineOf(pk.Origin); line != "" {
				fresh[flightKey{cl.ID, pk.PacketID}] = line
			}
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight = fresh
	g.byLine, g.sum = map[string]int{}, 0
	for _, line := range fresh {
		g.byLine[line]++
		g.sum++
	}
	g.signal()
}

// inflight returns the messages in flight to central by line.
func (g *gate) inflight() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.byLine))
	for l, n := range g.byLine {
		out[l] = n
	}
	return out
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed = true
		close(g.closedSig)
	}
}
