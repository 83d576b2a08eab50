package wire

import (
	"errors"
	"fmt"
	"strings"
)

// TopicRoot prefixes every topic of the contract; the version in it changes
// only with an incompatible change of the topic layout.
const TopicRoot = "serialine/v1/lines/"

// The kinds of topic under a line, i.e. what follows TopicRoot + line + "/".
const (
	KindEvents        = "events"          // edge → central: EventBatch
	KindAcks          = "acks"            // central → edge: Ack
	KindStatus        = "status"          // edge → central, retained, last will: Status
	KindOrders        = "orders"          // central → edge, retained: Orders
	KindSerialRequest = "serials/request" // edge → central: SerialRequest
	KindSerialGrant   = "serials/grant"   // central → edge: SerialGrant
)

// MaxLineLen is the longest line id.
const MaxLineLen = 64

// TopicInfo describes how a kind of topic is published.
type TopicInfo struct {
	Kind     string
	FromEdge bool // published by the edge (else by central)
	QoS      byte
	Retained bool
}

// Topics lists every kind of topic with its direction, QoS and retention,
// in the order of the contract's table.
func Topics() []TopicInfo {
	return []TopicInfo{
		{Kind: KindEvents, FromEdge: true, QoS: 1},
		{Kind: KindAcks, QoS: 1},
		{Kind: KindStatus, FromEdge: true, QoS: 1, Retained: true},
		{Kind: KindOrders, QoS: 1, Retained: true},
		{Kind: KindSerialRequest, FromEdge: true, QoS: 1},
		{Kind: KindSerialGrant, QoS: 1},
	}
}

// Info returns how kind is published, and false for an unknown kind.
func Info(kind string) (TopicInfo, bool) {
	for _, ti := range Topics() {
		if ti.Kind == kind {
			return ti, true
		}
	}
	return TopicInfo{}, false
}

// ErrTopic is wrapped by every error about a topic that is not part of the
// contract (wrong root, unknown kind, invalid line id).
var ErrTopic = errors.New("not a serialine topic")

// ValidateLine checks a line id: 1 to 64 characters of A-Z, a-z, 0-9, "_"
// and "-". That excludes the MQTT wildcards "+" and "#" and the level
// separator "/", so a line id always fills exactly one topic level.
func ValidateLine(line string) error {
	if line == "" {
		return errors.New("line id is empty")
	}
	if len(line) > MaxLineLen {
		return fmt.Errorf("line id %.20q... has %d characters, at most %d are allowed", line, len(line), MaxLineLen)
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("line id %q: character %q at position %d is not allowed; use A-Z, a-z, 0-9, _ and -", line, c, i+1)
		}
	}
	return nil
}

// Topic returns the topic of kind for line, e.g.
// "serialine/v1/lines/L1/events".
func Topic(line, kind string) (string, error) {
	if err := ValidateLine(line); err != nil {
		return "", fmt.Errorf("%w: %w", ErrTopic, err)
	}
	if _, ok := Info(kind); !ok {
		return "", fmt.Errorf("%w: unknown kind %q", ErrTopic, kind)
	}
	return TopicRoot + line + "/" + kind, nil
}

// Filter returns the subscription filter for kind on every line, e.g.
// "serialine/v1/lines/+/events".
func Filter(kind string) (string, error) {
	if _, ok := Info(kind); !ok {
		return "", fmt.Errorf("%w: unknown kind %q", ErrTopic, kind)
	}
	return TopicRoot + "+/" + kind, nil
}

// SharedFilter returns Filter(kind) as a shared subscription of group
// ("$share/{group}/serialine/v1/lines/+/events"), so that the replicas of
// central in one group each get a share of the messages. The group follows
// the line id rules.
func SharedFilter(group, kind string) (string, error) {
	if err := ValidateLine(group); err != nil {
		return "", fmt.Errorf("%w: share group: %w", ErrTopic, err)
	}
	f, err := Filter(kind)
	if err != nil {
		return "", err
	}
	return "$share/" + group + "/" + f, nil
}

// ParseTopic splits a topic of the contract into its line id and kind. It
// refuses topics outside TopicRoot, unknown kinds and invalid line ids, so a
// message on a topic it accepts can be trusted to concern that line.
func ParseTopic(t string) (line, kind string, err error) {
	rest, ok := strings.CutPrefix(t, TopicRoot)
	if !ok {
		return "", "", fmt.Errorf("%w: topic %q is not under %q", ErrTopic, t, TopicRoot)
	}
	line, kind, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", fmt.Errorf("%w: topic %q has no kind after the line id", ErrTopic, t)
	}
	if err := ValidateLine(line); err != nil {
		return "", "", fmt.Errorf("%w: topic %q: %w", ErrTopic, t, err)
	}
	if _, ok := Info(kind); !ok {
		return "", "", fmt.Errorf("%w: topic %q: unknown kind %q", ErrTopic, t, kind)
	}
	return line, kind, nil
}
