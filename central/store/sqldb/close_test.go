package sqldb_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

// TestCloseWithConnectionInUse: Close returns while a statement still holds
// a connection (pgxpool's own Close would wait for it), so that central's
// shutdown cannot hang on a statement waiting for a lock.
func TestCloseWithConnectionInUse(t *testing.T) {
	ctx := testkit.Context(t)
	db, err := sqldb.Open(ctx, storetest.PostgresDSN(t), testkit.Logger(t))
	require.NoError(t, err)

	holding, release := make(chan struct{}), make(chan struct{})
	written := make(chan error, 1)
	go func() {
		written <- db.Write(ctx, func(sqldb.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding

	closed := make(chan struct{})
	go func() { db.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Minute): // a liveness bound, far above the close wait
		close(release)
		t.Fatal("Close waited for the connection in use")
	}
	close(release)
	require.NoError(t, <-written, "the statement in flight ends as it would have")
	require.ErrorContains(t, db.Write(ctx, func(sqldb.Tx) error { return nil }), "closed", "no new work after Close")
}
