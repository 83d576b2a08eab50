package broker

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/serialine/serialine/shared/wire"
)

// aclHook plugs the logins and Allowed into mochi. mochi asks every hook
// that Provides an event; this is the only hook, so its answers are final.
type aclHook struct {
	mqtt.HookBase
	serviceUser     string
	servicePassword []byte
	creds           Credentials
	authTimeout     time.Duration
	clients         *mqtt.Clients   // the broker's sessions, to keep client ids to their users
	ctx             context.Context // ends when the broker closes, cutting slow credential checks short
	log             *slog.Logger
	rate            *rateLog // warnings about what a client repeats
	gate            *gate    // backpressure on lines' publishes
	drops           *dropper // counts and keeps what the broker drops
	m               *brokerMetrics
}

func (h *aclHook) ID() string { return "serialine-acl" }

func (h *aclHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish,
		mqtt.OnSelectSubscribers, mqtt.OnSessionEstablished, mqtt.OnDisconnect,
		mqtt.OnPacketProcessed, mqtt.OnQosPublish, mqtt.OnQosComplete, mqtt.OnQosDropped, mqtt.OnPublishDropped:
		return true
	}
	return false
}

// OnConnectAuthenticate admits the service user with its password and a line
// whose password Credentials accepts; everyone else gets a refused CONNACK.
func (h *aclHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	log := h.log.With("client", cl.ID, "user", user, "remote", cl.Net.Remote)
	if cl.ID == mqtt.InlineClientId {
		// A network client under this id would take over the in-process client's session.
		log.Warn("mqtt connect refused", "reason", "client id is reserved for the in-process client")
		return false
	}
	if c, ok := cl.Net.Conn.(*conn); ok {
		if err := c.checkCertUser(user); err != nil {
			c.l.m.refused.Inc("client_certificate")
			log.Warn("mqtt connect refused", "reason", err.Error())
			return false
		}
	}
	service, ok := h.authenticate(log, user, pk.Connect.Password)
	if !ok {
		return false
	}
	// MQTT lets a new connection take over the session of the same client id.
	// Across users that would let a line throw a central replica (or another
	// line) off the broker, and inherit its subscriptions.
	if holder, ok := h.clients.Get(cl.ID); ok && string(holder.Properties.Username) != user {
		log.Warn("mqtt connect refused", "reason", "client id is in use by another user",
			"holder", string(holder.Properties.Username))
		return false
	}
	// mochi publishes a last will without asking OnACLCheck, so a line could
	// set its will on another line's status. Mosquitto checks the will's
	// topic when it would publish it and drops it if denied; the ACL never
	// changes while a client is connected, so deciding now is the same.
	if atomic.LoadUint32(&cl.Properties.Will.Flag) == 1 && !Allowed(user, service, cl.Properties.Will.TopicName, true) {
		log.Warn("mqtt last will dropped: topic not allowed", "topic", cl.Properties.Will.TopicName)
		cl.Properties.Will = mqtt.Will{}
	}
	// The listener's limits per user, and the user's packet size limit
	// from now on.
	if c, ok := cl.Net.Conn.(*conn); ok {
		if err := c.l.login(c, user, service, cl.Properties.ProtocolVersion); err != nil {
			log.Warn("mqtt connect refused", "reason", err.Error())
			return false
		}
	}
	return true
}

// authenticate reports whether user/password may connect, and whether it is
// the service user. It logs every refusal with its reason.
func (h *aclHook) authenticate(log *slog.Logger, user string, password []byte) (service, ok bool) {
	if user == h.serviceUser {
		if subtle.ConstantTimeCompare(password, h.servicePassword) != 1 {
			log.Warn("mqtt connect refused", "reason", "wrong service password")
			return false, false
		}
		return true, true
	}
	if user == "" {
		log.Warn("mqtt connect refused", "reason", "no username")
		return false, false
	}
	if err := wire.ValidateLine(user); err != nil {
		log.Warn("mqtt connect refused", "reason", "username is not a line id: "+err.Error())
		return false, false
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.authTimeout)
	defer cancel()
	ok, err := h.creds.CheckLine(ctx, user, string(password))
	if err != nil {
		log.Error("mqtt connect refused: credential check failed", "error", err)
		return false, false
	}
	if !ok {
		log.Warn("mqtt connect refused", "reason", "unknown line or wrong password")
		return false, false
	}
	return false, true
}

// OnACLCheck decides reads: subscriptions (filters, "$share/..." included)
// and every delivery. Writes are let through here and decided in OnPublish:
// mochi disconnects an MQTT 3.1.1 client whose QoS 1 publish OnACLCheck
// denies, whereas Mosquitto acknowledges and drops it; edges must not be
// thrown off the line for a misaddressed message.
func (h *aclHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return true
	}
	if Allowed(string(cl.Properties.Username), h.isService(cl), topic, false) {
		return true
	}
	h.rate.warn("read\x00"+cl.ID, "mqtt read denied", "client", cl.ID, "user", string(cl.Properties.Username), "topic", topic)
	return false
}

// OnPublish drops a publish the client may not make. The client still gets
// its PUBACK (MQTT 3.1.1 has no negative one) and nothing is retained or
// delivered.
//
// A line's allowed publish is refused too when it is QoS 0 (the contract
// has lines publish at QoS 1; a QoS 0 message is not in flight to central,
// so no window holds a flood of them back), and otherwise waits at the
// gate while central has max_inflight_per_line of the line's messages
// unacknowledged. Every refusal is counted and, on the line's own topics,
// dead-lettered.
func (h *aclHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	user, service := string(cl.Properties.Username), h.isService(cl)
	drop := func(reason, why string) (packets.Packet, error) {
		h.drops.add(Drop{At: time.Now().UTC(), User: user, Topic: pk.TopicName, Payload: pk.Payload, Size: int64(len(pk.Payload)), Reason: why}, reason, service)
		return pk, packets.CodeSuccessIgnore
	}
	if !Allowed(user, service, pk.TopicName, true) {
		h.rate.warn("denied\x00"+cl.ID, "mqtt publish denied", "client", cl.ID, "user", user,
			"topic", pk.TopicName, "qos", pk.FixedHeader.Qos, "retain", pk.FixedHeader.Retain)
		return drop("denied", "the broker dropped it: user "+user+" may not publish on this topic")
	}
	if service {
		return pk, nil
	}
	if pk.FixedHeader.Qos == 0 {
		h.rate.warn("qos0\x00"+cl.ID, "mqtt publish dropped: QoS 0 from a line", "client", cl.ID, "user", user, "topic", pk.TopicName)
		return drop("qos0", "the broker dropped it: published at QoS 0, and the wire contract has lines publish at QoS 1")
	}
	ok, waited := h.gate.enter(cl, user, func() { h.m.waits.Inc(user) })
	if waited > 0 {
		h.m.waitSecs.Add(waited.Seconds(), user)
	}
	if !ok {
		// The connection or the broker closed while it waited: no PUBACK
		// went out, so the line publishes it again.
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// OnPacketProcessed releases a publish's place at the gate once mochi has
// delivered it (its messages to central are counted in flight by then).
func (h *aclHook) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, _ error) {
	if pk.FixedHeader.Type == packets.Publish {
		h.gate.left(cl.ID)
	}
}

func (h *aclHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	h.gate.delivered(cl, pk)
}

func (h *aclHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	h.gate.done(cl, pk.PacketID)
}

// OnQosDropped: a message in flight to cl left its window unacknowledged
// (its session ended, or it expired). It is counted, not dead-lettered:
// what was in flight to central is resent from the line's outbox, and what
// was in flight to a line (acks, grants) central sends again.
func (h *aclHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	h.gate.done(cl, pk.PacketID)
	if pk.FixedHeader.Type == packets.Publish {
		h.m.drops.inc("unacknowledged")
	}
}

// OnPublishDropped: mochi's send queue to cl was full.
func (h *aclHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	from := h.lineOf(pk.Origin)
	h.rate.warn("queue\x00"+cl.ID, "mqtt message dropped: the client's send queue is full", "client", cl.ID, "from", pk.Origin, "topic", pk.TopicName)
	h.drops.add(Drop{At: time.Now().UTC(), User: from, Topic: pk.TopicName, Payload: pk.Payload, Size: int64(len(pk.Payload)),
		Reason: "the broker dropped it: the send queue of client " + cl.ID + " was full"}, "writes_pending", from == "")
}

// lineOf returns the line a client id belongs to ("" for the service user,
// the in-process client and unknown ids). A client id is kept to its user,
// so a session taken over keeps the answer.
func (h *aclHook) lineOf(clientID string) string {
	cl, ok := h.clients.Get(clientID)
	if !ok || cl.Net.Inline || h.isService(cl) {
		return ""
	}
	return string(cl.Properties.Username)
}

// OnSelectSubscribers picks, for each shared subscription group, one member
// uniformly at random. mochi's own pick follows map iteration order, which
// favours one member and would load central replicas unevenly.
func (h *aclHook) OnSelectSubscribers(subs *mqtt.Subscribers, _ packets.Packet) *mqtt.Subscribers {
	subs.SharedSelected = make(map[string]packets.Subscription, len(subs.Shared))
	for _, members := range subs.Shared {
		n := rand.IntN(len(members))
		for client, sub := range members {
			if n > 0 {
				n--
				continue
			}
			if prev, ok := subs.SharedSelected[client]; ok {
				sub = prev.Merge(sub)
			}
			subs.SharedSelected[client] = sub
			break
		}
	}
	return subs
}

func (h *aclHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.log.Info("mqtt client connected", "client", cl.ID, "user", string(cl.Properties.Username),
		"remote", cl.Net.Remote, "clean", cl.Properties.Clean)
}

// OnDisconnect runs after mochi has published the client's last will, so
// its log record also tells that the will (if any) has gone out.
func (h *aclHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	h.log.Info("mqtt client disconnected", "client", cl.ID, "user", string(cl.Properties.Username), "error", err)
}

// isService reports whether cl logged in as the service user. Only the
// service password opens that username (authenticate), so the name suffices.
func (h *aclHook) isService(cl *mqtt.Client) bool {
	return string(cl.Properties.Username) == h.serviceUser
}
