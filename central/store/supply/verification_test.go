package supply_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/internal/testkit"
)

// TestVerificationLogAppendOnly: the database refuses to change or remove
// an entry of the verification log (the DSCSA record), even to someone
// with SQL access; entries read back as written.
func TestVerificationLogAppendOnly(t *testing.T) {
	rec := supply.VerificationRecord{Direction: supply.VerificationIn, Actor: "acme (partner 0614141000005, token ab)", PartnerGLN: "0614141000005",
		ReqGLN: "0614141000005", GTIN: "00312345678913", Serial: "123", Request: "GET /01/00312345678913/21/123", Status: 200,
		Verified: new(bool), FailureReason: "No_match_GTIN_Serial", Answer: `{"data":{"verified":false}}`}
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		id, err := s.RecordVerification(ctx, rec)
		require.NoError(t, err)
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		for _, stmt := range []string{"UPDATE verification_log SET status = 500", "DELETE FROM verification_log", "TRUNCATE verification_log"} {
			_, err := conn.Exec(ctx, stmt)
			require.ErrorContains(t, err, "append-only", stmt)
		}
		got, err := s.Verifications(ctx, supply.VerificationFilter{GTIN: rec.GTIN})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, id, got[0].ID)
		rec.ID, rec.At, rec.Duration = got[0].ID, got[0].At, got[0].Duration
		require.Equal(t, rec, got[0])
	})
	t.Run("sqlite", func(t *testing.T) {
		dsn := storetest.SQLiteDSN(t)
		s, ctx := storetest.Open(t, dsn, testkit.Logger(t)), storetest.Context(t)
		_, err := s.RecordVerification(ctx, rec)
		require.NoError(t, err)
		s.Close()
		db := storetest.OpenRawSQLite(t, dsn)
		for _, stmt := range []string{"UPDATE verification_log SET status = 500", "DELETE FROM verification_log"} {
			_, err := db.ExecContext(ctx, stmt)
			require.ErrorContains(t, err, "append-only", stmt)
		}
	})
}
