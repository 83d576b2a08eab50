package ingest

import (
	"context"

	"github.com/serialine/serialine/central/broker"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// DeadLetterStore is what DropKeeper needs of central's database.
type DeadLetterStore interface {
	AddDeadLetters(ctx context.Context, ds []lineevents.DeadLetter) error
}

// DropKeeper keeps the messages the embedded broker dropped from a line on
// its own topics as dead letters, like the payloads ingest cannot apply:
// the reason says the broker dropped it and why.
func DropKeeper(st DeadLetterStore) broker.DropKeeper { return dropKeeper{st} }

type dropKeeper struct{ st DeadLetterStore }

func (k dropKeeper) KeepDrops(ctx context.Context, drops []broker.Drop) error {
	ds := make([]lineevents.DeadLetter, len(drops))
	for i, d := range drops {
		line, _, err := wire.ParseTopic(d.Topic)
		if err != nil {
			line = d.User
		}
		ds[i] = lineevents.DeadLetter{ReceivedAt: d.At, Topic: d.Topic, Line: line, Payload: d.Payload, Reason: d.Reason}
		if int64(len(d.Payload)) != d.Size || d.SHA256 != "" {
			ds[i].Size, ds[i].SHA256 = d.Size, d.SHA256
		}
	}
	return k.st.AddDeadLetters(sqldb.WithActor(ctx, "mqtt-broker"), ds)
}
