package broker

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// listener is the broker's TCP listener, and its TLS listener when
// Config.TLSListen is set: both sockets share the limits. It bounds what a client can make
// the broker hold: connections in all, connections not logged in yet (each
// given LoginTimeout to send its CONNECT), connections per line, and the
// size of every packet, which it reads from the packet's fixed header as
// the bytes pass, before mochi allocates the packet's body.
type listener struct {
	id      string
	address string
	cfg     Config
	log     *slog.Logger
	rate    *rateLog
	m       *brokerMetrics
	drops   *dropper
	ln      net.Listener
	tlsLn   net.Listener // nil without Config.TLSListen
	end     atomic.Bool

	mu      sync.Mutex
	open    int
	pending int            // connections not logged in yet
	perUser map[string]int // logged-in connections by user
	conns   map[*conn]struct{}
}

var _ listeners.Listener = (*listener)(nil)

func newListener(cfg Config, log *slog.Logger, rate *rateLog, m *brokerMetrics, drops *dropper) *listener {
	return &listener{id: "tcp", address: cfg.Listen, cfg: cfg, log: log, rate: rate, m: m, drops: drops, perUser: map[string]int{}, conns: map[*conn]struct{}{}}
}

func (l *listener) ID() string       { return l.id }
func (l *listener) Protocol() string { return "tcp" }

func (l *listener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

func (l *listener) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	l.ln = ln
	if l.cfg.TLSListen != "" {
		tln, err := net.Listen("tcp", l.cfg.TLSListen)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("tls_listen: %v", err) // not EADDRINUSE for the plain port's fallback: another plain port would not help
		}
		l.tlsLn = tln
	}
	return nil
}

// Serve accepts connections until Close, refusing those over the limits
// at once (closed without reading a byte).
func (l *listener) Serve(establish listeners.EstablishFn) {
	if l.tlsLn != nil {
		go l.serve(l.tlsLn, true, establish)
	}
	l.serve(l.ln, false, establish)
}

// serve accepts on one socket; on the TLS one each connection is
// wrapped in TLS after the limits admit it (the handshake then runs on
// the connection's own goroutine, within LoginTimeout).
func (l *listener) serve(ln net.Listener, overTLS bool, establish listeners.EstablishFn) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if l.end.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.log.Error("mqtt listener stopped accepting", "addr", ln.Addr().String(), "err", err)
			return
		}
		c, reason := l.accept(nc, overTLS)
		if c == nil {
			l.m.refused.Inc(reason)
			l.rate.warn("refused\x00"+reason, "mqtt connection refused", "remote", nc.RemoteAddr().String(), "reason", reason)
			_ = nc.Close()
			continue
		}
		go func() {
			if err := establish(l.id, c); err != nil {
				l.log.Debug("mqtt connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// Close stops accepting and closes every client.
func (l *listener) Close(closeClients listeners.CloseFn) {
	if l.end.CompareAndSwap(false, true) {
		closeClients(l.id)
	}
	if l.ln != nil {
		_ = l.ln.Close()
	}
	if l.tlsLn != nil {
		_ = l.tlsLn.Close()
	}
	// mochi closes the clients it has registered, then waits for every
	// connection's goroutine: one not logged in yet, or one whose login
	// raced the close, would hold Close until its keepalive ran out (an
	// MQTT client pinging keeps it forever). Close what we admitted.
	l.mu.Lock()
	open := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		open = append(open, c)
	}
	l.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
}

// accept admits a new connection under the limits, or returns why not.
func (l *listener) accept(nc net.Conn, overTLS bool) (*conn, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.end.Load():
		return nil, "shutting_down"
	case l.open >= l.cfg.MaxConnections:
		return nil, "max_connections"
	case l.pending >= l.cfg.MaxUnauthenticated:
		return nil, "max_unauthenticated"
	}
	l.open++
	l.pending++
	// The CONNECT must come within LoginTimeout; mochi sets the keepalive
	// deadline once it has it.
	_ = nc.SetReadDeadline(time.Now().Add(l.cfg.LoginTimeout))
	c := &conn{Conn: nc, l: l}
	if overTLS {
		c.Conn = tls.Server(nc, l.cfg.TLS)
	}
	l.conns[c] = struct{}{}
	return c, ""
}

// login records that c logged in as user, or refuses it when the user has
// as many connections as it may.
func (l *listener) login(c *conn, user string, service bool, version byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.loggedIn {
		return nil
	}
	if !service && l.perUser[user] >= l.cfg.MaxConnectionsPerUser {
		l.m.refused.Inc("max_connections_per_user")
		return fmt.Errorf("user %s has %d connections, at most %d are allowed (max_connections_per_user)", user, l.perUser[user], l.cfg.MaxConnectionsPerUser)
	}
	l.pending--
	if !service {
		l.perUser[user]++
	}
	c.loggedIn, c.user, c.service, c.version = true, user, service, version
	c.limit.Store(int64(l.cfg.linePacketLimit()))
	if service {
		c.limit.Store(serviceMaxPacket)
	}
	return nil
}

func (l *listener) release(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
	l.open--
	switch {
	case !c.loggedIn:
		l.pending--
	case !c.service:
		if l.perUser[c.user]--; l.perUser[c.user] <= 0 {
			delete(l.perUser, c.user)
		}
	}
}

func (l *listener) counts() (open, pending int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.pending
}

// conn is one client connection. Its read side is used by the client's
// goroutine in mochi only (which also runs the login hook); Close may come
// from anywhere.
type conn struct {
	net.Conn
	l         *listener
	closeOnce sync.Once

	// Set at login, on the reading goroutine.
	loggedIn bool
	user     string
	service  bool
	version  byte
	limit    atomic.Int64 // largest packet after login

	// The packet framing of the bytes read so far.
	hdr      [5]byte
	hdrN     int // bytes of the current fixed header seen
	left     int // bytes of the current packet's body still to come
	sawFirst bool
	err      error // sticky: the connection is being refused
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.release(c) })
	return err
}

// errRefused is wrapped by the read error of a refused connection.
var errRefused = errors.New("mqtt packet refused")

// Read passes the bytes through while following the packet framing. A
// packet over its limit is stopped at its header: the bytes before it are
// returned, and the next Read fails, so mochi never sees the header nor
// allocates the body.
func (c *conn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if ok, bad := c.scan(p[:n]); bad != nil {
			c.err = bad.err
			c.refuse(bad, p[bad.body:n])
			if ok == 0 {
				return 0, c.err
			}
			return ok, nil
		}
	}
	if err != nil && !c.loggedIn && !c.sawFirst {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.l.m.refused.Inc("login_timeout")
			c.l.rate.warn("refused\x00login_timeout", "mqtt connection refused", "remote", c.RemoteAddr().String(), "reason", "login_timeout",
				"detail", fmt.Sprintf("no CONNECT within %v (login_timeout)", c.l.cfg.LoginTimeout))
		}
	}
	return n, err
}

// badPacket is a packet refused at its header.
type badPacket struct {
	err        error
	typ, flags byte
	size, rem  int // the whole packet's size, and its remaining length
	limit      int
	body       int // where its body starts in the bytes scanned (may be len)
}

// scan follows the framing over b. It returns how many bytes may go to
// mochi, and the packet refused, if one is.
func (c *conn) scan(b []byte) (int, *badPacket) {
	hdrAt := 0 // where the current header started in b (0: in an earlier read)
	for i := 0; i < len(b); {
		if c.left > 0 {
			k := min(len(b)-i, c.left)
			i += k
			c.left -= k
			continue
		}
		if c.hdrN == 0 {
			hdrAt = i
		}
		c.hdr[c.hdrN] = b[i]
		c.hdrN++
		i++
		if c.hdrN == 1 {
			if !c.sawFirst && c.hdr[0]>>4 != packets.Connect {
				return hdrAt, &badPacket{err: fmt.Errorf("%w: the first packet is not a CONNECT", errRefused), typ: c.hdr[0] >> 4, body: i}
			}
			continue
		}
		if c.hdr[c.hdrN-1]&0x80 != 0 {
			if c.hdrN == len(c.hdr) {
				return hdrAt, &badPacket{err: fmt.Errorf("%w: malformed remaining length", errRefused), typ: c.hdr[0] >> 4, body: i}
			}
			continue
		}
		rem := 0
		for k := c.hdrN - 1; k >= 1; k-- {
			rem = rem<<7 | int(c.hdr[k]&0x7f)
		}
		typ, flags, size := c.hdr[0]>>4, c.hdr[0]&0x0f, c.hdrN+rem
		limit := c.packetLimit()
		c.sawFirst, c.hdrN = true, 0
		if size > limit {
			return hdrAt, &badPacket{
				err: fmt.Errorf("%w: %s of %d bytes exceeds the limit of %d bytes", errRefused, packetName(typ), size, limit),
				typ: typ, flags: flags, size: size, rem: rem, limit: limit, body: i,
			}
		}
		c.left = rem
	}
	return len(b), nil
}

// packetLimit is the largest packet the connection may send next.
func (c *conn) packetLimit() int {
	switch {
	case !c.sawFirst:
		return c.l.cfg.connectPacketLimit()
	case c.loggedIn:
		return int(c.limit.Load())
	}
	// Bytes after the CONNECT arrive before its login is decided only
	// from a client that does not wait for the CONNACK: a line's limit.
	return c.l.cfg.linePacketLimit()
}

// dropPrefix is how much of a refused PUBLISH is read to name its topic
// and keep the beginning of its payload.
const dropPrefix = 4 << 10

// refuse counts and logs a refused packet; a PUBLISH of a line on its own
// topic is also dead-lettered with what was read of it (body: the bytes
// of its body at hand).
func (c *conn) refuse(bad *badPacket, body []byte) {
	kind := "other"
	switch {
	case bad.typ == packets.Connect:
		kind = "connect"
	case bad.typ == packets.Publish:
		kind = "publish"
	}
	if bad.size > 0 {
		c.l.m.tooLarge.Inc(kind)
	} else {
		c.l.m.refused.Inc("protocol")
	}
	c.l.rate.warn("packet\x00"+c.user, "mqtt connection closed: packet refused", "remote", c.RemoteAddr().String(), "user", c.user,
		"packet", packetName(bad.typ), "size", bad.size, "limit", bad.limit, "err", bad.err)
	if bad.typ != packets.Publish || bad.size == 0 {
		return
	}
	// Read a little more of the body if need be, with a short deadline:
	// the connection is closed anyway.
	buf := make([]byte, 0, min(bad.rem, dropPrefix))
	buf = append(buf, body[:min(len(body), cap(buf))]...)
	if len(buf) < cap(buf) {
		_ = c.Conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		for len(buf) < cap(buf) {
			n, err := c.Conn.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				break
			}
		}
	}
	topic, payload, payloadSize := splitPublish(buf, bad.flags, bad.rem, c.version)
	c.l.drops.add(Drop{
		At: time.Now().UTC(), User: c.user, Topic: topic, Payload: payload, Size: int64(payloadSize),
		Reason: fmt.Sprintf("the broker dropped it: a packet of %d bytes exceeds the maximum packet size of %d bytes (max_packet_size); the connection was closed and only the first %d bytes of the payload were read",
			bad.size, bad.limit, len(payload)),
	}, "too_large", c.service || !c.loggedIn)
}

// splitPublish reads the topic of a PUBLISH from the first bytes of its
// body and returns it with the bytes of the payload at hand and the
// payload's full size.
func splitPublish(b []byte, flags byte, rem int, version byte) (topic string, payload []byte, size int) {
	if len(b) < 2 {
		return "", nil, rem
	}
	tl := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+tl {
		return "", nil, rem
	}
	topic, off := string(b[2:2+tl]), 2+tl
	if (flags>>1)&0x03 > 0 {
		off += 2 // packet identifier
	}
	if version == 5 && off < len(b) {
		n, k := binary.Uvarint(b[off:]) // MQTT's variable byte integer reads the same for lengths < 2^28
		if k > 0 {
			off += k + int(n)
		}
	}
	if off > len(b) {
		return topic, nil, max(rem-off, 0)
	}
	return topic, b[off:], rem - off
}

func packetName(typ byte) string {
	if n, ok := packets.PacketNames[typ]; ok {
		return n
	}
	return fmt.Sprintf("packet type %d", typ)
}
