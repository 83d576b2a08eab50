package zpl_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/zpl"
)

func TestLayoutFor(t *testing.T) {
	for dpi, dpmm := range map[int]int{152: 6, 203: 8, 300: 12, 600: 24} {
		l, err := zpl.LayoutFor(dpi, 0, 5)
		require.NoError(t, err, dpi)
		require.Equal(t, dpmm, l.DPMM, dpi)
		require.Equal(t, 5, l.TextLines)
	}
	l, err := zpl.LayoutFor(300, 0.5, 4)
	require.NoError(t, err)
	require.Equal(t, 6, l.ModuleDots, "0.5 mm at 12 dots/mm")
	_, err = zpl.LayoutFor(100, 0, 5)
	require.ErrorContains(t, err, "dpi 100: a ZPL printer prints at 152, 203, 300 or 600 dpi")
}
