package master_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/stretchr/testify/require"
)

// TestAddressMigration: a database at schema 7 with single-line
// addresses keeps each line in street when it is migrated, and the
// partner takes EPCIS 1.2.
func TestAddressMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := store.Open(context.Background(), "sqlite:"+path, slog.New(slog.DiscardHandler), store.WithDB(sqldb.WithMigrationsUpTo(7)))
	require.NoError(t, err)
	old.Close()
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Opaque: path}).String()+"?_pragma=foreign_keys(1)")
	require.NoError(t, err)
	at := time.Now().UTC()
	_, err = db.Exec("INSERT INTO sites (gln, name, address, created_at, updated_at) VALUES ('0614141000005', 'Plant', '1 Factory Rd, Durham NC 27701', $1, $1)", at)
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO trading_partners (gln, name, address, licences, created_at, updated_at) VALUES ('0614141000029', 'Acme', '9 Depot Ave, Newark NJ', '{}', $1, $1)", at)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	ctx := context.Background()
	s, err := store.Open(ctx, "sqlite:"+path, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	site, err := s.Site(ctx, "0614141000005")
	require.NoError(t, err)
	require.Equal(t, master.Address{Street: "1 Factory Rd, Durham NC 27701"}, site.Address)
	p, err := s.Partner(ctx, "0614141000029")
	require.NoError(t, err)
	require.Equal(t, master.Address{Street: "9 Depot Ave, Newark NJ"}, p.Address)
	require.Equal(t, master.EPCIS12, p.EPCISVersion)
}
