package scanner

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// feed pushes stream into a framer in chunks of size n and collects what it
// reports: lines as they are, over-long lines as "!LONG".
func feed(term string, max int, stream string, n int) (events []string, f *framer) {
	f = newFramer([]byte(term), max)
	for i := 0; i < len(stream); i += n {
		end := min(i+n, len(stream))
		f.push([]byte(stream[i:end]),
			func(l []byte) { events = append(events, string(l)) },
			func([]byte) { events = append(events, "!LONG") })
		if len(f.buf) > max+len(term) {
			panic("framer buffer above its cap")
		}
	}
	return events, f
}

func TestFramer(t *testing.T) {
	noise := strings.Repeat("\x00\xff\x1b", 3000)
	tests := []struct {
		name    string
		term    string
		max     int
		stream  string
		want    []string
		pending string
	}{
		{"lines", "\r\n", 16, "A\r\nBB\r\n\r\nCCC\r\n", []string{"A", "BB", "", "CCC"}, ""},
		{"partial tail kept", "\r\n", 16, "A\r\nBB", []string{"A"}, "BB"},
		{"lone CR and LF are data", "\r\n", 16, "A\rB\nC\r\n", []string{"A\rB\nC"}, ""},
		{"single-byte terminator", "\x03", 16, "\x02A\x03\x02B\x03", []string{"\x02A", "\x02B"}, ""},
		{"three-byte terminator", "\x03\r\n", 16, "A\x03\r\nB\r\n\x03\r\n", []string{"A", "B\r\n"}, ""},
		{"line of exactly max", "\r\n", 8, "01234567\r\nX\r\n", []string{"01234567", "X"}, ""},
		{"over-long line reported once", "\r\n", 8, "0123456789ABCDEFGHIJ\r\nOK\r\n", []string{"!LONG", "OK"}, ""},
		{"max+1", "\r\n", 8, "012345678\r\nOK\r\n", []string{"!LONG", "OK"}, ""},
		{"noise without terminator", "\r\n", 64, noise + "\r\nOK\r\n", []string{"!LONG", "OK"}, ""},
		{"noise still going", "\r\n", 64, noise, []string{"!LONG"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for n := 1; n <= len(tt.stream); n++ {
				got, f := feed(tt.term, tt.max, tt.stream, n)
				require.Equal(t, tt.want, got, "chunk size %d", n)
				require.Equal(t, tt.pending, string(f.pending()), "chunk size %d", n)
				if n > 40 && n < len(tt.stream)-40 {
					n += len(tt.stream) / 40 // big streams: a sample of chunk sizes
				}
			}
		})
	}
}

func TestFramerReset(t *testing.T) {
	f := newFramer([]byte("\r\n"), 8)
	var lines []string
	push := func(s string) {
		f.push([]byte(s), func(l []byte) { lines = append(lines, string(l)) }, func([]byte) { lines = append(lines, "!LONG") })
	}
	push("0123456789") // over-long, now skipping
	require.Nil(t, f.pending())
	f.reset()
	push("AB\r\n")
	require.Equal(t, []string{"!LONG", "AB"}, lines)
	require.True(t, bytes.Equal(nil, f.pending()) || len(f.pending()) == 0)
}
