package zpl

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParser feeds arbitrary bytes whole and split in two at a fuzzed point:
// the parser must not panic, must finish, and must give the same labels and
// commands either way.
func FuzzParser(f *testing.F) {
	l := DefaultLayout(8)
	f.Add(append(l.Format(), l.AppendRecall(nil, sampleFields())...), uint16(7))
	f.Add(l.Standalone(roundTripCases()[2].f), uint16(40))
	f.Add(splitStream(), uint16(300))
	f.Add([]byte("^XA^CC+^XZ+XA+FO1,2+FDa+FS+XZ~HS"), uint16(3))
	f.Add([]byte("^XA^DFX^FS^XFX^FS^FO1,1^FN1^FS^XZ^XA^XFX^FS^FN1^FH^FD_7E1_5F^FS^XZ"), uint16(20))
	f.Add([]byte("^XA^FO1,1^BXN,3,200,,,,~^FH^FD_7E1~d255~~^FS^PQ99999999999^XZ"), uint16(11))
	f.Add([]byte("~CT^~CC~^XA"), uint16(2))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		whole := quietParser(t)
		wantLabels, wantCmds, _ := whole.Feed(data)

		cut := 0
		if len(data) > 0 {
			cut = int(split) % (len(data) + 1)
		}
		parts := quietParser(t)
		labels1, cmds1, _ := parts.Feed(data[:cut])
		labels2, cmds2, _ := parts.Feed(data[cut:])
		require.Equal(t, wantLabels, append(labels1, labels2...))
		require.Equal(t, wantCmds, append(cmds1, cmds2...))
		require.Equal(t, whole.InFormat(), parts.InFormat())
	})
}

// FuzzParseHostStatus: no panic, and whatever parses survives a
// Marshal/Parse round trip unchanged.
func FuzzParseHostStatus(f *testing.F) {
	f.Add([]byte("\x02030,0,0,1245,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n"))
	f.Add(HostStatus{PaperOut: true, LabelsRemaining: 42, HeadOpen: true}.Marshal())
	f.Add([]byte(" 030, 1 ,0,1245,000,0,0,0,000,0,0,0\r\n001,0,0, 1,1,2,6,0,00000000,1,000\r\n1234,0 "))
	f.Add([]byte("\x02,,,\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseHostStatus(data)
		if err != nil {
			require.ErrorIs(t, err, ErrHostStatus)
			return
		}
		again, err := ParseHostStatus(s.Marshal())
		require.NoError(t, err)
		require.Equal(t, s, again)
	})
}
