package testkit

import (
	"image"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"
	"github.com/stretchr/testify/require"
)

// Read128 reads the Code 128 (GS1-128 assumed) in img with gozxing, a reader
// that is not ours, and returns its text.
func Read128(tb testing.TB, img image.Image) string {
	tb.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	require.NoError(tb, err)
	res, err := oned.NewCode128Reader().Decode(bmp, map[gozxing.DecodeHintType]any{
		gozxing.DecodeHintType_ASSUME_GS1: true, gozxing.DecodeHintType_TRY_HARDER: true})
	require.NoError(tb, err, "gozxing reads the Code 128")
	return res.GetText()
}
