package sqldb_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/sqldb"
)

func TestWhere(t *testing.T) {
	var none sqldb.Where
	require.Empty(t, none.SQL())
	require.Empty(t, none.Args())

	var w sqldb.Where
	w.Add("gtin = ?", "09506000134352")
	w.Add("at >= ?", "2026-12-08")
	require.Equal(t, " WHERE gtin = $1 AND at >= $2", w.SQL())
	require.Equal(t, []any{"09506000134352", "2026-12-08"}, w.Args())
}
