package ingest

import "context"

// What the HTTP side (central/api, central/web) asks of the lines' link.
// *Ingest implements both; the API and the UI take them as optional
// dependencies so that they can be built and tested without a broker.

// OrderPublisher republishes a line's retained orders payload (on
// serialine/v1/lines/{line}/orders) after one of its orders was released or
// closed and the change has committed.
type OrderPublisher interface {
	PublishOrders(ctx context.Context, line string) error
}

// LineStatuses gives the latest status each line published, by line id.
type LineStatuses interface {
	Statuses() map[string]LineStatus
}

var (
	_ OrderPublisher = (*Ingest)(nil)
	_ LineStatuses   = (*Ingest)(nil)
)
