package scanner

import (
	"context"
	"image"
	"image/color"
	"testing"

	scandrv "github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{}, "scanner simulator: name: missing"},
		{"bad format", Config{Name: "s", Format: scandrv.Format{Terminator: "#"}}, `scanner simulator "s": format: terminator "#"`},
		{"rate above 1", Config{Name: "s", Faults: Faults{NoReadRate: 1.5}}, "faults: no_read_rate 1.5: want a probability from 0 to 1"},
		{"negative rate", Config{Name: "s", Faults: Faults{WrongCodeRate: -0.1}}, "faults: wrong_code_rate -0.1"},
		{"bad grade", Config{Name: "s", Faults: Faults{GradeDrop: 'E'}}, "faults: grade_drop"},
		{"negative queue", Config{Name: "s", Queue: -1}, "queue -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, testkit.Discard())
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err := New(Config{Name: "s"}, nil)
	require.ErrorContains(t, err, "logger: missing")
	sim := newSim(t, Config{})
	require.ErrorContains(t, sim.SetFaults(Faults{GradeDropRate: 2}), "grade_drop_rate 2")
}

func TestConfigYAML(t *testing.T) {
	src := `
name: verifier-1
seed: 42
queue: 16
format:
  prefix: '\x02'
  terminator: '\x03'
  grade: letter
faults:
  no_read_rate: 0.01
  wrong_code_rate: 0.002
  grade_drop_rate: 0.05
  grade_drop: F
`
	var cfg Config
	require.NoError(t, yaml.Unmarshal([]byte(src), &cfg))
	require.Equal(t, Config{Name: "verifier-1", Seed: 42, Queue: 16,
		Format: scandrv.Format{Prefix: "\x02", Terminator: "\x03", Grade: scandrv.GradeLetter},
		Faults: Faults{NoReadRate: 0.01, WrongCodeRate: 0.002, GradeDropRate: 0.05, GradeDrop: scandrv.GradeF}}, cfg)
	_, err := New(cfg, testkit.Discard())
	require.NoError(t, err)
}

// TestInspectGrades covers the normal grading: A first time, C on the
// binarized retry, F and no-read when neither attempt reads.
func TestInspectGrades(t *testing.T) {
	tests := []struct {
		name    string
		img     image.Image
		want    scandrv.Result
		retries uint64
	}{
		{"crisp print", fakeSymbol(pharmaData, true, 0, 255), scandrv.Result{Data: pharmaData, GS1: true, Grade: scandrv.GradeA}, 0},
		{"low contrast needs the retry", fakeSymbol("HELLO", false, 90, 160), scandrv.Result{Data: "HELLO", Grade: scandrv.GradeC}, 1},
		{"blank label", image.NewUniform(color.White), scandrv.Result{NoRead: true, Grade: scandrv.GradeF}, 0},
		{"no marker", fakeSymbol("X", false, 255, 0), scandrv.Result{NoRead: true, Grade: scandrv.GradeF}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if u, ok := tt.img.(*image.Uniform); ok {
				tt.img = subImage{u, image.Rect(0, 0, 64, 1)}
			}
			sim := newSim(t, Config{Decoder: fakeDecoder{}, Format: scandrv.Format{Grade: scandrv.GradeLetter}})
			r, err := sim.Inspect(context.Background(), tt.img)
			require.NoError(t, err)
			require.Equal(t, tt.want, withoutAt(r))
			st := sim.Stats()
			require.Equal(t, uint64(1), st.Inspected)
			require.Equal(t, tt.retries, st.Retries)
		})
	}
	t.Run("grades hidden when the format sends none", func(t *testing.T) {
		sim := newSim(t, Config{Decoder: fakeDecoder{}})
		r, err := sim.Inspect(context.Background(), fakeSymbol("A1", false, 0, 255))
		require.NoError(t, err)
		require.Equal(t, scandrv.Result{Data: "A1"}, withoutAt(r))
	})
}

// subImage bounds an infinite image.
type subImage struct {
	image.Image
	r image.Rectangle
}

func (s subImage) Bounds() image.Rectangle { return s.r }

func TestInspectMisuse(t *testing.T) {
	sim := newSim(t, Config{})
	_, err := sim.Inspect(context.Background(), fakeSymbol("A", false, 0, 255))
	require.ErrorContains(t, err, "Inspect needs a Decoder")

	sim = newSim(t, Config{Decoder: fakeDecoder{}})
	_, err = sim.Inspect(context.Background(), nil)
	require.ErrorContains(t, err, "nil image")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = sim.Inspect(ctx, fakeSymbol("A", false, 0, 255))
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, uint64(0), sim.Stats().Inspected)
}

// TestFaultsInResults checks each fault in what InspectData reports.
func TestFaultsInResults(t *testing.T) {
	graded := scandrv.Format{Grade: scandrv.GradeLetter}
	tests := []struct {
		name   string
		faults Faults
		check  func(t *testing.T, r scandrv.Result, st Stats)
	}{
		{"none", Faults{}, func(t *testing.T, r scandrv.Result, st Stats) {
			require.Equal(t, scandrv.Result{Data: pharmaData, GS1: true, Grade: scandrv.GradeA}, withoutAt(r))
		}},
		{"no-read", Faults{NoReadRate: 1}, func(t *testing.T, r scandrv.Result, st Stats) {
			require.Equal(t, scandrv.Result{NoRead: true, Grade: scandrv.GradeF}, withoutAt(r))
			require.Equal(t, uint64(1), st.NoReads)
		}},
		{"wrong code", Faults{WrongCodeRate: 1}, func(t *testing.T, r scandrv.Result, st Stats) {
			require.Equal(t, pharmaData[:len(pharmaData)-1]+"2", r.Data)
			require.Equal(t, uint64(1), st.WrongCodes)
		}},
		{"grade drop default D", Faults{GradeDropRate: 1}, func(t *testing.T, r scandrv.Result, st Stats) {
			require.Equal(t, scandrv.GradeD, r.Grade)
			require.Equal(t, uint64(1), st.GradeDrops)
		}},
		{"grade drop to F", Faults{GradeDropRate: 1, GradeDrop: scandrv.GradeF}, func(t *testing.T, r scandrv.Result, st Stats) {
			require.Equal(t, scandrv.GradeF, r.Grade)
			require.False(t, r.NoRead)
		}},
		{"grade drop never raises", Faults{GradeDropRate: 1, GradeDrop: scandrv.GradeA}, func(t *testing.T, r scandrv.Result, st Stats) {
			require.Equal(t, scandrv.GradeA, r.Grade)
			require.Equal(t, uint64(0), st.GradeDrops)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t, Config{Format: graded, Faults: tt.faults})
			r, err := sim.InspectData(pharmaData, true)
			require.NoError(t, err)
			tt.check(t, r, sim.Stats())
		})
	}
	t.Run("offline", func(t *testing.T) {
		sim := newSim(t, Config{Faults: Faults{Offline: true}})
		_, err := sim.InspectData(pharmaData, true)
		require.ErrorIs(t, err, ErrOffline)
		require.Equal(t, uint64(1), sim.Stats().Dropped)
		sim.SetOffline(false)
		_, err = sim.InspectData(pharmaData, true)
		require.NoError(t, err)
	})
}

// TestFaultRatesDeterministic: the same seed and units give the same
// results; the rates are met over many units.
func TestFaultRatesDeterministic(t *testing.T) {
	faults := Faults{NoReadRate: 0.1, WrongCodeRate: 0.05, GradeDropRate: 0.2}
	runSim := func(seed uint64) ([]scandrv.Result, Stats) {
		sim := newSim(t, Config{Seed: seed, Faults: faults, Format: scandrv.Format{Grade: scandrv.GradeNumber}})
		var rs []scandrv.Result
		for i := 0; i < 2000; i++ {
			r, err := sim.InspectData(pharmaData, true)
			require.NoError(t, err)
			rs = append(rs, withoutAt(r))
		}
		return rs, sim.Stats()
	}
	a, sa := runSim(7)
	b, sb := runSim(7)
	c, _ := runSim(8)
	require.Equal(t, a, b)
	require.Equal(t, sa, sb)
	require.NotEqual(t, a, c)
	require.InDelta(t, 200, float64(sa.NoReads), 60)
	require.InDelta(t, 90, float64(sa.WrongCodes), 40) // of the 1800 reads
	require.InDelta(t, 360, float64(sa.GradeDrops), 80)
}

func TestWrongCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"21SER0000001", "21SER0000002"},
		{"9", "0"},
		{"ABZ", "ABA"},
		{"abz", "aba"},
		{"A-", "AX"},
		{"AX", "AY"}, // X is a letter: next letter
		{"A1\x1d", "A2\x1d"},
		{"", "X"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := wrongCode(tt.in)
			require.Equal(t, tt.want, got)
			require.NotEqual(t, tt.in, got)
		})
	}
}

func TestBinarize(t *testing.T) {
	img := fakeSymbol("Z", false, 100, 140)
	_, _, err := fakeDecoder{}.Decode(img)
	require.ErrorIs(t, err, errNoSymbol)
	data, _, err := fakeDecoder{}.Decode(binarize(img))
	require.NoError(t, err)
	require.Equal(t, "Z", data)
}
