package ingest

import (
	"context"
	"fmt"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// ssccGranter is the SSCC side of central's store (*store.Store implements
// it). It is looked up on the Store rather than added to that interface so
// that a store without SSCC ranges still serves serials.
type ssccGranter interface {
	GrantSSCC(ctx context.Context, req wire.SerialRequest, limit uint64) (wire.SerialGrant, error)
}

// grantFor answers a serials/request of either kind: serials of an order
// (Store.Grant, capped by Config.GrantCap) or SSCC serial references for
// the line's cases and pallets (orders.DefaultSSCCGrantCap).
func (in *Ingest) grantFor(ctx context.Context, req wire.SerialRequest) (wire.SerialGrant, error) {
	if !req.Kind.IsSSCC() {
		return in.st.Grant(ctx, req, in.cfg.GrantCap)
	}
	sg, ok := in.st.(ssccGranter)
	if !ok {
		return wire.SerialGrant{}, fmt.Errorf("sscc request %s: %w: this central grants no SSCCs", req.RequestID, sqldb.ErrState)
	}
	return sg.GrantSSCC(ctx, req, 0)
}
