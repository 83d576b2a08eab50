package ingest_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

// TestSSCCRequests: a line asks for SSCC serial references on
// serials/request (kind sscc) and gets them on serials/grant, the same
// range again for a retried request id; a request central refuses is
// answered with the reason and kept as a dead letter.
func TestSSCCRequests(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			log, _ := captureLogger(t)
			b := startEmbedded(t, log)
			if be.Name == "postgres" {
				b = mosquitto(t)
			}
			c := newCentral(t, be.DSN(t), b, nil)
			l := c.newLine(t, 0)
			e := mustEdge(t, b, l.id)
			prefix := &wire.SSCCPrefix{CompanyPrefix: gtin[1:8], Extension: 4}
			req := wire.SerialRequest{V: 1, RequestID: "sscc-" + l.id, Line: l.id, Kind: wire.RequestSSCC, Order: l.order, Count: 20, SSCC: prefix}
			payload, err := wire.Encode(req)
			require.NoError(t, err)

			e.publish(t, wire.KindSerialRequest, payload, false)
			g1 := e.nextGrant(t)
			require.Empty(t, g1.Error)
			require.Equal(t, wire.RequestSSCC, g1.Kind)
			require.Equal(t, *prefix, *g1.SSCC)
			require.Equal(t, uint64(20), g1.Count())

			e.publish(t, wire.KindSerialRequest, payload, false) // the grant was lost; the edge retries
			require.Equal(t, g1, e.nextGrant(t), "a retried request gets the very same range")

			req.RequestID = "sscc2-" + l.id
			payload, err = wire.Encode(req)
			require.NoError(t, err)
			e.publish(t, wire.KindSerialRequest, payload, false)
			g2 := e.nextGrant(t)
			require.Equal(t, g1.Ranges[0].End(), g2.Ranges[0].Start, "a new request gets new references")

			grants, err := c.st.SSCCGrants(c.ctx, l.id)
			require.NoError(t, err)
			require.Len(t, grants, 2)

			bad := req
			bad.RequestID = "sscc3-" + l.id
			bad.SSCC = &wire.SSCCPrefix{CompanyPrefix: "0614141", Extension: 4}
			raw, err := json.Marshal(bad)
			require.NoError(t, err)
			e.publish(t, wire.KindSerialRequest, raw, false)
			g3 := e.nextGrant(t)
			require.Equal(t, bad.RequestID, g3.RequestID)
			require.Equal(t, wire.RequestSSCC, g3.Kind)
			require.Contains(t, g3.Error, "0614141 is not the GS1 Company Prefix of any product")
			require.Zero(t, g3.Count())
			var dl []lineevents.DeadLetter
			testkit.Eventually(t, "dead letter", func() bool {
				dl = deadLetters(t, c, l.id)
				return len(dl) == 1
			})
			require.Contains(t, dl[0].Reason, "serial request refused")
			require.Equal(t, raw, dl[0].Payload)
		})
	}
}
