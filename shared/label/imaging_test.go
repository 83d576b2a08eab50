package label

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// Image helpers for the tests. They are written independently of the
// package's own gray/rotate code so that a bug there cannot hide itself.

// grayOf flattens img onto white as an *image.Gray with origin (0, 0).
func grayOf(img image.Image) *image.Gray {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Over)
	return out
}

// whiteGray is a white w×h image.
func whiteGray(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	return img
}

// rotateQuarter turns img clockwise by turns×90°.
func rotateQuarter(img *image.Gray, turns int) *image.Gray {
	for ; turns%4 > 0; turns-- {
		b := img.Bounds()
		out := image.NewGray(image.Rect(0, 0, b.Dy(), b.Dx()))
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				out.SetGray(b.Dy()-1-y, x, img.GrayAt(b.Min.X+x, b.Min.Y+y))
			}
		}
		img = out
	}
	return img
}

// cropToInk cuts img down to the bounding box of its dark pixels: the symbol
// without any quiet zone.
func cropToInk(tb testing.TB, img *image.Gray) *image.Gray {
	tb.Helper()
	var r image.Rectangle
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if img.GrayAt(x, y).Y < 128 {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	require.False(tb, r.Empty(), "image has no ink to crop to")
	out := image.NewGray(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(out, out.Bounds(), img, r.Min, draw.Src)
	return out
}

// flipNoise inverts each pixel with probability p (speckle), seeded.
func flipNoise(img *image.Gray, p float64, seed uint64) *image.Gray {
	rng := rand.New(rand.NewPCG(seed, 0x5e71a11e))
	out := image.NewGray(img.Bounds())
	copy(out.Pix, img.Pix)
	for i := range out.Pix {
		if rng.Float64() < p {
			out.Pix[i] = 255 - out.Pix[i]
		}
	}
	return out
}

// gaussNoise adds grey noise of standard deviation sigma, seeded.
func gaussNoise(img *image.Gray, sigma float64, seed uint64) *image.Gray {
	rng := rand.New(rand.NewPCG(seed, 0x9a055))
	out := image.NewGray(img.Bounds())
	for i, v := range img.Pix {
		out.Pix[i] = uint8(max(0, min(255, float64(v)+rng.NormFloat64()*sigma)))
	}
	return out
}

// jpegBytes encodes img as JPEG at quality q.
func jpegBytes(tb testing.TB, img image.Image, q int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}))
	return buf.Bytes()
}

// jpegRoundTrip returns img as a JPEG decoder sees it after encoding at q.
func jpegRoundTrip(tb testing.TB, img image.Image, q int) image.Image {
	tb.Helper()
	out, err := jpeg.Decode(bytes.NewReader(jpegBytes(tb, img, q)))
	require.NoError(tb, err)
	return out
}

func readImage(tb testing.TB, path string) image.Image {
	tb.Helper()
	f, err := os.Open(path)
	require.NoError(tb, err)
	tb.Cleanup(func() { f.Close() })
	img, _, err := image.Decode(f)
	require.NoError(tb, err, path)
	return img
}

// matrixImage draws m with px-pixel modules and a quiet zone of qz modules.
func matrixImage(m *Matrix, px, qz int) *image.Gray {
	img := whiteGray((m.Cols+2*qz)*px, (m.Rows+2*qz)*px)
	DrawMatrix(img, m, qz*px, qz*px, px)
	return img
}

// isDark reads a pixel of any image as a scanner would: below mid-grey.
func isDark(img image.Image, x, y int) bool {
	return color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y < 128
}
