package epcis

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
)

// Format is an EPCIS binding.
type Format int

// The two bindings.
const (
	FormatUnknown Format = iota
	FormatXML
	FormatJSONLD
)

func (f Format) String() string {
	switch f {
	case FormatXML:
		return "XML"
	case FormatJSONLD:
		return "JSON-LD"
	}
	return "unknown"
}

// SniffFormat tells XML from JSON by the first significant byte.
func SniffFormat(b []byte) Format {
	b = bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case len(b) == 0:
		return FormatUnknown
	case b[0] == '<':
		return FormatXML
	case b[0] == '{' || b[0] == '[':
		return FormatJSONLD
	}
	return FormatUnknown
}

// EventHash is the hash ID of one event of a document.
type EventHash struct {
	ID      string // ni:///sha-256;…?ver=CBV2.0
	PreHash string // the canonical string hashed
	// Reference is false where GS1's reference generator gives up on the
	// event or its document (a bizTransaction without type, an @context
	// term that is not a plain namespace, a number too large for a float, a
	// time stamp whose milliseconds round to 1000): the ID is then the one
	// the same algorithm gives when it carries on sensibly at that point.
	Reference bool
}

// HashDocument returns the hash ID of every event of an EPCIS 2.0 document
// (XML or JSON-LD; sniffed when f is FormatUnknown), in document order: the
// ID GS1's reference generator (RalphTro/epcis-event-hash-generator) gives
// it, see refhash.go. A document without events gives none. The error says
// why the document cannot be read at all.
func HashDocument(b []byte, f Format) ([]EventHash, error) {
	if f == FormatUnknown {
		f = SniffFormat(b)
	}
	read := func(lenient bool) ([]*hnode, error) {
		switch f {
		case FormatXML:
			return refXMLEvents(b, lenient)
		case FormatJSONLD:
			return refJSONEvents(b, lenient)
		}
		return nil, fmt.Errorf("%w: neither XML nor JSON", ErrInvalidDocument)
	}
	nodes, err := read(false)
	strict := err == nil
	if !strict {
		if nodes, err = read(true); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
		}
	}
	out := make([]EventHash, len(nodes))
	var again []int
	for i, n := range nodes {
		pre, err := refPreHash(n, !strict)
		if err != nil {
			again = append(again, i)
			continue
		}
		out[i] = EventHash{ID: hashOf(pre), PreHash: pre, Reference: strict}
	}
	if len(again) > 0 {
		// The walk consumes the tree: read the document again for the
		// events the reference gives up on.
		if nodes, err = read(false); err != nil {
			return nil, err
		}
		for _, i := range again {
			pre, err := refPreHash(nodes[i], true)
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			out[i] = EventHash{ID: hashOf(pre), PreHash: pre}
		}
	}
	return out, nil
}

// HashID returns the CBV 2.0 event hash ID of e:
// "ni:///sha-256;<hex>?ver=CBV2.0" over PreHashString(e).
func HashID(e Event) (string, error) {
	pre, err := PreHashString(e)
	if err != nil {
		return "", err
	}
	return hashOf(pre), nil
}

// PreHashString returns the canonical pre-hash string of e: the one GS1's
// reference generator builds for e written as a one-event JSON-LD document
// (the form the repository stores and answers by default); where the
// reference would give up, the algorithm carries on as HashDocument says.
func PreHashString(e Event) (string, error) {
	if e.EventTime.IsZero() {
		return "", errors.New("epcis: hash: eventTime is required")
	}
	b, err := MarshalJSONLD(Document{Events: []Event{e}})
	if err != nil {
		return "", fmt.Errorf("epcis: hash: %w", err)
	}
	hs, err := HashDocument(b, FormatJSONLD)
	if err != nil {
		return "", err
	}
	if len(hs) != 1 {
		return "", fmt.Errorf("epcis: hash: %d events read back", len(hs))
	}
	return hs[0].PreHash, nil
}

// gs1Context is GS1's context document, read once (it never changes).
var gs1Context = sync.OnceValues(func() (*jv, error) { return readJV(gs1ContextJSON) })
