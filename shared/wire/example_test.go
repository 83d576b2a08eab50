package wire_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/serialine/serialine/shared/wire"
)

func Example() {
	topic, _ := wire.Topic("L1", wire.KindEvents)
	counter := uint64(0)
	batch := wire.EventBatch{V: wire.Version, Line: "L1", Events: []wire.Event{{
		ID: "L1:1", Seq: 1, Type: wire.Commissioned, At: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC),
		Order: "WO-1", GTIN: "09506000134352", Serial: "1000000001", Lot: "LOT42", Expiry: "281231", Counter: &counter,
	}}}
	payload, err := wire.Encode(batch)
	fmt.Println(topic, err)

	got, err := wire.DecodeEventBatch(payload)
	fmt.Println(len(got.Events), err)

	batch.Events[0].GTIN = "09506000134353"
	bad, err := wire.DecodeEventBatch(batchJSON(batch)) // the batch comes back with the reasons
	var be *wire.BatchError
	fmt.Println(len(bad.Events), errors.As(err, &be), err)
	// Output:
	// serialine/v1/lines/L1/events <nil>
	// 1 <nil>
	// 1 true events[0].gtin: AI (01) "09506000134353": check digit: check digit 3 is wrong, expected 2
}

func batchJSON(b wire.EventBatch) []byte {
	data, err := json.Marshal(b)
	if err != nil {
		panic(err)
	}
	return data
}
