package orders_test

import (
	"fmt"
	"testing"

	"github.com/serialine/serialine/central/store/storetest"
)

// BenchmarkGrant500k grants 500,000 serials per request.
func BenchmarkGrant500k(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			f := storetest.NewFixture(b, be.DSN(b))
			f.OrderOf(b, "WO-1", storetest.GTINRand, storetest.Line1, 1<<40) // grants are bounded by the order
			i := 0
			for b.Loop() {
				i++
				g, err := f.S.Grant(f.Ctx, storetest.Req(fmt.Sprintf("r%d", i), storetest.Line1, "WO-1", storetest.GTINRand, 500_000), 500_000)
				if err != nil || g.Count() != 500_000 {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(i), "ms/500k")
		})
	}
}
