package broker

import (
	"strings"

	"github.com/serialine/serialine/shared/wire"
)

// ServiceRoot is the part of the topic tree central's service user may read
// and write. Lines get narrower rights under wire.TopicRoot, which is inside it.
const ServiceRoot = "serialine/v1/"

// sharePrefix starts a shared subscription filter: $share/{group}/{filter}.
const sharePrefix = "$share/"

// Allowed is the one ACL decision of the broker, the same rules that
// configs/mosquitto/acl gives Mosquitto:
//
//   - central's service user (isService) may write any topic and read any
//     filter under ServiceRoot ("serialine/v1/"), including wildcards and
//     shared subscriptions such as "$share/central/serialine/v1/lines/+/events";
//   - a line (user = line id, see wire.ValidateLine) may write exactly its own
//     edge → central topics (events, status, serials/request) and read exactly
//     its own central → edge topics (acks, orders, serials/grant), nothing
//     else: no other line's topics and no wildcard, since a wildcard filter
//     could reach other lines.
//
// topic is a topic name when write is true and a subscription filter (or the
// topic of a message being delivered) when write is false. A shared
// subscription is judged by its filter without the "$share/{group}/" prefix,
// as Mosquitto does. A user that is not a valid line id is never allowed
// anything unless isService.
func Allowed(user string, isService bool, topic string, write bool) bool {
	if write {
		if !validTopicName(topic) {
			return false
		}
	} else {
		f, ok := stripShare(topic)
		if !ok || !validFilter(f) {
			return false
		}
		topic = f
	}
	if isService {
		return len(topic) > len(ServiceRoot) && strings.HasPrefix(topic, ServiceRoot)
	}
	if wire.ValidateLine(user) != nil {
		return false
	}
	kind, ok := strings.CutPrefix(topic, wire.TopicRoot+user+"/")
	if !ok {
		return false
	}
	// The contract's table says who publishes each kind; the exact match on
	// kind also refuses every wildcard filter.
	info, ok := wire.Info(kind)
	if !ok {
		return false
	}
	return info.FromEdge == write
}

// stripShare returns filter without a leading "$share/{group}/", and false
// for a malformed shared subscription (empty group or filter, wildcard in the
// group).
func stripShare(filter string) (string, bool) {
	rest, ok := strings.CutPrefix(filter, sharePrefix)
	if !ok {
		return filter, true
	}
	group, f, ok := strings.Cut(rest, "/")
	if !ok || group == "" || f == "" || strings.ContainsAny(group, "+#") {
		return "", false
	}
	return f, true
}

// validTopicName reports whether t may be published to: non-empty, no
// wildcard, no NUL.
func validTopicName(t string) bool {
	return t != "" && !strings.ContainsAny(t, "+#\x00")
}

// validFilter reports whether f is a well-formed subscription filter: "+"
// only as a whole level, "#" only as the whole last level.
func validFilter(f string) bool {
	if f == "" || strings.ContainsRune(f, 0) {
		return false
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#":
			if i != len(levels)-1 {
				return false
			}
		case l == "+":
		case strings.ContainsAny(l, "+#"):
			return false
		}
	}
	return true
}
