package wire

import "errors"

// CheckedEvent is an event with the result of its own Validate, computed
// once where the event entered (DecodeCheckedBatch, CheckEvents), so that
// whoever applies it uses that result instead of validating again. Only
// this package makes one, always by validating, and the event cannot be
// changed afterwards: a CheckedEvent's Err is its event's.
type CheckedEvent struct {
	ev      Event
	err     error
	checked bool
}

// errUnchecked is the Err of a CheckedEvent not made by this package (its
// zero value).
var errUnchecked = errors.New("event was never checked against the contract (a zero wire.CheckedEvent)")

// CheckEvent validates e once.
func CheckEvent(e Event) CheckedEvent {
	return CheckedEvent{ev: e, err: e.Validate(), checked: true}
}

// CheckEvents validates each event on its own. The batch rules (an id or
// seq repeated) are not part of an event's result: EventBatch.Validate and
// DecodeCheckedBatch report those.
func CheckEvents(events []Event) []CheckedEvent {
	out := make([]CheckedEvent, len(events))
	for i, e := range events {
		out[i] = CheckEvent(e)
	}
	return out
}

// Event returns (a copy of) the event.
func (c CheckedEvent) Event() Event { return c.ev }

// Err is the result of the event's Validate: nil, or a *FieldError naming
// the field by its JSON name within the event ("gtin", "id").
func (c CheckedEvent) Err() error {
	if !c.checked {
		return errUnchecked
	}
	return c.err
}

// batchError is the *BatchError of a batch (nil when all its events are
// valid), given each event's own result: each invalid event's reason under
// "events[i]", and the ids and seqs that repeat among the valid ones.
func batchError(events []Event, errOf func(i int) error) error {
	var invalid map[int]error
	ids := make(map[string]int, len(events))
	seqs := make(map[uint64]int, len(events))
	for i := range events {
		e, err := &events[i], errOf(i)
		if err == nil {
			if j, dup := ids[e.ID]; dup {
				err = fieldErrf("id", "%q repeats events[%d]", e.ID, j)
			} else if j, dup := seqs[e.Seq]; dup {
				err = fieldErrf("seq", "%d repeats events[%d]", e.Seq, j)
			}
		}
		if err != nil {
			if invalid == nil {
				invalid = make(map[int]error)
			}
			invalid[i] = under(index("events", i), err)
			continue
		}
		ids[e.ID] = i
		seqs[e.Seq] = i
	}
	if invalid != nil {
		return &BatchError{Invalid: invalid}
	}
	return nil
}
