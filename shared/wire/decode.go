package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxPayloadBytes caps every payload. A batch of MaxBatchEvents events, or
// a list grant of 100,000 serials, stays well below it.
const MaxPayloadBytes = 8 << 20

// Payload is implemented by every payload type.
type Payload interface {
	Validate() error
}

// Encode validates p and marshals it, so that neither side ever sends what
// the other would reject.
func Encode(p Payload) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

// DecodeEventBatch reads an events payload. It returns an error and no
// batch when the payload is too large, not JSON, of another version or has
// an invalid envelope (line id, no events, too many). When only some events
// are invalid it returns the whole batch together with a *BatchError
// listing them, so that the caller can dead-letter those and apply the
// others.
//
// Unknown JSON fields are ignored (see the package documentation on
// forward compatibility).
func DecodeEventBatch(b []byte) (EventBatch, error) {
	batch, err := decodeBatch(b)
	if err != nil {
		return EventBatch{}, err
	}
	return batch, batch.validateEvents()
}

// DecodeCheckedBatch is DecodeEventBatch for whoever applies the events:
// it also returns each event with the result of its own Validate, the very
// results the *BatchError's reasons are made of, so that the invalid events
// are dead-lettered with them and nothing is validated twice.
func DecodeCheckedBatch(b []byte) (EventBatch, []CheckedEvent, error) {
	batch, err := decodeBatch(b)
	if err != nil {
		return EventBatch{}, nil, err
	}
	checked := CheckEvents(batch.Events)
	return batch, checked, batchError(batch.Events, func(i int) error { return checked[i].Err() })
}

// decodeBatch reads an events payload and checks its envelope.
func decodeBatch(b []byte) (EventBatch, error) {
	var batch EventBatch
	if err := decode(b, &batch); err != nil {
		return EventBatch{}, err
	}
	return batch, batch.validateEnvelope()
}

// DecodeAck reads and validates an acks payload.
func DecodeAck(b []byte) (Ack, error) { return decodeValid[Ack](b) }

// DecodeStatus reads and validates a status payload.
func DecodeStatus(b []byte) (Status, error) { return decodeValid[Status](b) }

// DecodeOrders reads and validates an orders payload.
func DecodeOrders(b []byte) (Orders, error) { return decodeValid[Orders](b) }

// DecodeSerialRequest reads and validates a serials/request payload.
func DecodeSerialRequest(b []byte) (SerialRequest, error) { return decodeValid[SerialRequest](b) }

// DecodeSerialGrant reads and validates a serials/grant payload.
func DecodeSerialGrant(b []byte) (SerialGrant, error) { return decodeValid[SerialGrant](b) }

func decodeValid[T Payload](b []byte) (T, error) {
	var p T
	if err := decode(b, &p); err != nil {
		return p, err
	}
	if err := p.Validate(); err != nil {
		var zero T
		return zero, err
	}
	return p, nil
}

// decode unmarshals b into p after the size check. When that fails it
// looks at "v" alone, so that a payload of another version is reported as
// such rather than as whatever type error its new shape causes.
//
// It reads with the JSON v2 implementation (go-json-experiment/json, the
// proposed encoding/json/v2): central decodes every event of every line,
// and v2 does it in less than half the time of encoding/json (one pass,
// no reflection per field), which is CPU left to the database on a small
// central. It is also stricter where the wire wants it: member names
// match exactly, a name given twice and invalid UTF-8 are errors.
// Payloads are still written with encoding/json (Encode).
func decode(b []byte, p any) error {
	if len(b) > MaxPayloadBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxPayloadBytes)
	}
	err := jsonv2.Unmarshal(b, p)
	if err == nil {
		return nil
	}
	var probe struct {
		V *int `json:"v"`
	}
	if jsonv2.Unmarshal(b, &probe) == nil && probe.V != nil && *probe.V != Version {
		return checkVersion(*probe.V)
	}
	var se *jsonv2.SemanticError
	if errors.As(err, &se) && se.GoType != nil && se.JSONKind != 0 {
		field := fieldPath(se.JSONPointer)
		if field == "" {
			return fmt.Errorf("payload is a JSON %s, not an object", kindName(se.JSONKind))
		}
		return fieldErrf(field, "JSON %s where a %s belongs", kindName(se.JSONKind), se.GoType)
	}
	return fmt.Errorf("payload is not valid JSON: %w", err)
}

// fieldPath turns a JSON pointer (/events/3/seq) into the field notation
// of FieldError (events[3].seq).
func fieldPath(p jsontext.Pointer) string {
	var sb strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.ParseUint(tok, 10, 64); err == nil && sb.Len() > 0 {
			sb.WriteString("[" + tok + "]")
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(tok)
	}
	return sb.String()
}

// kindName names a JSON kind as a person would.
func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	}
	return k.String()
}
