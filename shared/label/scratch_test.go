package label

import (
	"os"
	"testing"
)

func TestScratch(t *testing.T) {
	for name, l := range map[string]Label{"t": {Data: typicalGS1, GS1: true, Text: packText}, "n": {Data: typicalGS1, GS1: true}} {
		f, _ := os.Create("/tmp/lbscratch/c600" + name + ".png")
		RenderPNG(f, l, Options{DPI: 600})
		f.Close()
	}
}
