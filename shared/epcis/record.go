package epcis

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The repository keeps each event as a record: the Event itself in JSON,
// lossless for both bindings (what XML writes that JSON-LD has no place
// for, such as an xsi:nil quantity or attributes of extension elements,
// and JSON's number and boolean types), so that an event answered in the
// binding it came in hashes to the ID it was captured with.

// recordVersion tags the record layout.
const recordVersion = 1

type record struct {
	V int   `json:"v"`
	E Event `json:"e"`
}

// MarshalEventRecord encodes e for storage.
func MarshalEventRecord(e Event) ([]byte, error) {
	b, err := json.Marshal(record{V: recordVersion, E: e})
	if err != nil {
		return nil, fmt.Errorf("epcis: event record: %w", err)
	}
	return b, nil
}

// UnmarshalEventRecord decodes a record of MarshalEventRecord; numbers in
// extensions come back as json.Number, as ParseJSONLD gives them.
func UnmarshalEventRecord(b []byte) (Event, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var r record
	if err := d.Decode(&r); err != nil {
		return Event{}, fmt.Errorf("epcis: event record: %w", err)
	}
	if r.V != recordVersion {
		return Event{}, fmt.Errorf("epcis: event record: version %d, want %d", r.V, recordVersion)
	}
	return r.E, nil
}
