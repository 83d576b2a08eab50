package wire

import (
	"encoding/json"
	"errors"
	"fmt"
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
	var batch EventBatch
	if err := decode(b, &batch); err != nil {
		return EventBatch{}, err
	}
	if err := batch.validateEnvelope(); err != nil {
		return EventBatch{}, err
	}
	return batch, batch.validateEvents()
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
func decode(b []byte, p any) error {
	if len(b) > MaxPayloadBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxPayloadBytes)
	}
	err := json.Unmarshal(b, p)
	if err == nil {
		return nil
	}
	var probe struct {
		V *int `json:"v"`
	}
	if json.Unmarshal(b, &probe) == nil && probe.V != nil && *probe.V != Version {
		return checkVersion(*probe.V)
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		if ute.Field == "" {
			return fmt.Errorf("payload is a JSON %s, not an object", ute.Value)
		}
		return fieldErrf(ute.Field, "JSON %s where a %s belongs", ute.Value, ute.Type)
	}
	return fmt.Errorf("payload is not valid JSON: %w", err)
}
