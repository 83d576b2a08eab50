package scanner

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzFormats are the formats FuzzDecode tries; the fuzzer picks one.
var fuzzFormats = []Format{
	{},
	{Prefix: "\x02", Terminator: "\x03", Grade: GradeLetter},
	{GS: "<GS>", SymbologyID: true, Grade: GradeNumber, GradePosition: GradePrefix, GradeSeparator: ","},
	{GS: "{GS}", NoRead: "?", AssumeGS1: true, MaxLine: 64},
}

// FuzzDecode checks that Decode never panics, that what it accepts is clean
// (printable data with GS, a valid grade), and that Encode writes it back to
// a line that decodes to the same result.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		pharmaData + "\r\n",
		"]d2" + pharmaData + ";B\r\n",
		"\x02NOREAD;F\x03",
		"3,]d210A<GS>21B\r\n",
		"?", "", "\r\n", "\x1d\x1d", "A;;", ";A", "]d", "]d9X", "<GS>{GS}<GS",
	} {
		for i := range fuzzFormats {
			f.Add([]byte(seed), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, line []byte, sel uint8) {
		format := fuzzFormats[int(sel)%len(fuzzFormats)]
		r, err := format.Decode(line, at)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		require.True(t, r.Grade == GradeNone || r.Grade.Valid(), "grade %v", r.Grade)
		if r.NoRead {
			require.Empty(t, r.Data)
		} else {
			require.NotEmpty(t, r.Data)
			for i := 0; i < len(r.Data); i++ {
				c := r.Data[i]
				require.True(t, c == 0x1d || (c >= 0x20 && c <= 0x7e), "data byte %d is 0x%02X", i, c)
			}
		}
		if !r.NoRead && !format.SymbologyID && r.Data == format.noRead() {
			return // "]d1NOREAD" without identifiers on the way back is a no-read: inherent
		}
		back := format.Encode(nil, r)
		if len(back)-len(format.terminator()) > format.maxLine() {
			return // raw GS in, a longer substitute out: may pass max_line
		}
		again, err := format.Decode(back, at)
		require.NoError(t, err, "re-encoded %+v", r)
		if !format.SymbologyID && !r.NoRead {
			// Without identifiers on the way back, GS1 is what the format assumes.
			r.GS1 = format.AssumeGS1
		}
		require.Equal(t, r, again)
	})
}
