package line

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/internal/testkit"
	printersim "github.com/serialine/serialine/simulators/printer"
)

// benchLine measures the sustained rate of the simulated line, from the
// print job going in to the result line coming out: triggers, ^XF recall
// jobs over loopback TCP, the printer's parse (and rasterising), applying the
// label, the camera's decode (in imaging mode), the scanner's result line and
// the scanner driver reading it. The conveyor is stepped in batches (manual
// mode), so the figure is the line's capacity, not a configured speed.
func benchLine(b *testing.B, fast bool) {
	cfg := testConfig()
	cfg.Manual = true
	cfg.Fast = fast
	cfg.Travel = Travel{PrintWindow: 1, PrinterToCamera: 1, CameraToReject: 1}
	l := startLine(b, cfg)
	e := newEdge(b, l, false, nil)
	ctx := context.Background()
	// Half the printer's receive buffer: the last label of a batch may be
	// counted as applied a moment before it leaves the printer's queue, and
	// a full batch on top of it would overflow the buffer.
	batch := printersim.DefaultBufferLabels / 2
	jobs := make([]uint32, 0, batch)

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	done := 0
	for done < b.N {
		k := min(batch, b.N-done)
		jobs = jobs[:0]
		for range k {
			n, ok := l.Trigger()
			require.True(b, ok)
			jobs = append(jobs, n)
		}
		for _, n := range jobs {
			require.NoError(b, e.printer.Print(ctx, unitFields(b, n)))
		}
		_, err := l.Wait(testkit.Context(b), func(c Counters) bool { return c.Applied >= uint64(done+k) })
		require.NoError(b, err)
		require.True(b, l.Advance(1)) // the batch reaches the camera
		for range k {
			r := e.result(b)
			if r.NoRead {
				b.Fatalf("no-read in a healthy line")
			}
		}
		done += k
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Minutes(), "units/min")
	c := l.Status().Counters
	require.Equal(b, uint64(b.N), c.Scanned)
	require.Zero(b, c.Misreads)
}

// BenchmarkLine is the imaging line: every label rasterised and decoded.
func BenchmarkLine(b *testing.B) { benchLine(b, false) }

// BenchmarkLineFast is the fast mode: no pixels, the printed data is read.
func BenchmarkLineFast(b *testing.B) { benchLine(b, true) }
