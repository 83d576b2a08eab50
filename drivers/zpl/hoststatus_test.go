package zpl

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// hsFieldsOf splits a marshalled answer into its three strings' fields.
func hsFieldsOf(tb testing.TB, b []byte) [][]string {
	tb.Helper()
	s := string(b)
	var out [][]string
	for range 3 {
		require.True(tb, strings.HasPrefix(s, "\x02"), "string must start with STX: %q", s)
		end := strings.Index(s, "\x03\r\n")
		require.Positive(tb, end, "string must end with ETX CR LF: %q", s)
		out = append(out, strings.Split(s[1:end], ","))
		s = s[end+3:]
	}
	require.Empty(tb, s, "nothing after the third string")
	return out
}

func TestHostStatusMarshalParseEveryFlag(t *testing.T) {
	// Each flag lands in the manual's position (string, field) and survives
	// the round trip alone.
	tests := []struct {
		name      string
		status    HostStatus
		str, fld  int
		wantValue string
	}{
		{"paper out", HostStatus{PaperOut: true}, 0, 1, "1"},
		{"paused", HostStatus{Paused: true}, 0, 2, "1"},
		{"label length", HostStatus{LabelLengthDots: 200}, 0, 3, "0200"},
		{"formats in buffer", HostStatus{FormatsInBuffer: 7}, 0, 4, "007"},
		{"buffer full", HostStatus{BufferFull: true}, 0, 5, "1"},
		{"diagnostic mode", HostStatus{CommDiagnostic: true}, 0, 6, "1"},
		{"partial format", HostStatus{PartialFormat: true}, 0, 7, "1"},
		{"corrupt RAM", HostStatus{CorruptRAM: true}, 0, 9, "1"},
		{"under temperature", HostStatus{UnderTemperature: true}, 0, 10, "1"},
		{"over temperature", HostStatus{OverTemperature: true}, 0, 11, "1"},
		{"comm settings", HostStatus{CommSettings: 30}, 0, 0, "030"},
		{"function settings", HostStatus{FunctionSettings: 1}, 1, 0, "001"},
		{"head open", HostStatus{HeadOpen: true}, 1, 2, "1"},
		{"ribbon out", HostStatus{RibbonOut: true}, 1, 3, "1"},
		{"thermal transfer", HostStatus{ThermalTransfer: true}, 1, 4, "1"},
		{"print mode", HostStatus{PrintMode: 3}, 1, 5, "3"},
		{"print width mode", HostStatus{PrintWidthMode: 6}, 1, 6, "6"},
		{"label waiting", HostStatus{LabelWaiting: true}, 1, 7, "1"},
		{"labels remaining", HostStatus{LabelsRemaining: 1234}, 1, 8, "00001234"},
		{"graphics stored", HostStatus{GraphicsStored: 12}, 1, 10, "012"},
		{"password", HostStatus{Password: 1234}, 2, 0, "1234"},
		{"static RAM", HostStatus{StaticRAM: true}, 2, 1, "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.status.Marshal()
			fields := hsFieldsOf(t, b)
			require.Len(t, fields[0], 12)
			require.Len(t, fields[1], 11)
			require.Len(t, fields[2], 2)
			require.Equal(t, tc.wantValue, fields[tc.str][tc.fld])
			require.Equal(t, "000", fields[0][8], "iii is always 000")
			require.Equal(t, "1", fields[1][9], "v is always 1")

			got, err := ParseHostStatus(b)
			require.NoError(t, err)
			require.Equal(t, tc.status, got)
		})
	}
}

func TestHostStatusMarshalEverythingSet(t *testing.T) {
	s := HostStatus{
		CommSettings: 30, PaperOut: true, Paused: true, LabelLengthDots: 1245, FormatsInBuffer: 999,
		BufferFull: true, CommDiagnostic: true, PartialFormat: true, CorruptRAM: true,
		UnderTemperature: true, OverTemperature: true, FunctionSettings: 1, HeadOpen: true,
		RibbonOut: true, ThermalTransfer: true, PrintMode: 2, PrintWidthMode: 6, LabelWaiting: true,
		LabelsRemaining: 99999999, GraphicsStored: 3, Password: 1234, StaticRAM: true,
	}
	require.Equal(t,
		"\x02030,1,1,1245,999,1,1,1,000,1,1,1\x03\r\n\x02001,0,1,1,1,2,6,1,99999999,1,003\x03\r\n\x021234,1\x03\r\n",
		string(s.Marshal()))
	got, err := ParseHostStatus(s.Marshal())
	require.NoError(t, err)
	require.Equal(t, s, got)

	// A negative count is written as 0 rather than breaking the answer.
	neg, err := ParseHostStatus(HostStatus{LabelsRemaining: -5}.Marshal())
	require.NoError(t, err)
	require.Zero(t, neg.LabelsRemaining)
}

func TestParseHostStatusRealAnswers(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want HostStatus
	}{
		{
			// A printer at rest, in the shape open-source Zebra tools record from
			// real printers: 030 settings, 1245-dot label, tear-off, thermal transfer.
			name: "ready",
			in:   "\x02030,0,0,1245,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n",
			want: HostStatus{CommSettings: 30, LabelLengthDots: 1245, FunctionSettings: 1, ThermalTransfer: true, PrintMode: 2, PrintWidthMode: 6, Password: 1234},
		},
		{
			name: "paused with head open, three formats queued, labels left in the batch",
			in:   "\x02014,0,1,0633,003,0,0,1,000,0,0,0\x03\r\n\x02000,0,1,0,0,2,6,0,00000042,1,000\x03\r\n\x021234,0\x03\r\n",
			want: HostStatus{CommSettings: 14, Paused: true, LabelLengthDots: 633, FormatsInBuffer: 3, PartialFormat: true, HeadOpen: true, PrintMode: 2, PrintWidthMode: 6, LabelsRemaining: 42, Password: 1234},
		},
		{
			name: "SGD device.host_status form: no STX/ETX, spaces around fields",
			in:   " 030, 1 ,0,1245,000,0,0,0,000,0,0,0\r\n001,0,0, 1,1,2,6,0,00000000,1,000\r\n1234,0 ",
			want: HostStatus{CommSettings: 30, PaperOut: true, LabelLengthDots: 1245, FunctionSettings: 1, RibbonOut: true, ThermalTransfer: true, PrintMode: 2, PrintWidthMode: 6, Password: 1234},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHostStatus([]byte(tc.in))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseHostStatusMalformedNamesTheField(t *testing.T) {
	const s2, s3 = "\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n", "\x021234,0\x03\r\n"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "0 strings, want 3"},
		{"two strings", "\x02030,0,0,1245,000,0,0,0,000,0,0,0\x03\r\n" + s2, "2 strings, want 3"},
		{"missing field", "\x02030,0,0,1245,000,0,0,0,000,0,0\x03\r\n" + s2 + s3, "string 1 has 11 fields, want 12"},
		{"flag not 0/1", "\x02030,2,0,1245,000,0,0,0,000,0,0,0\x03\r\n" + s2 + s3, "string 1 field b (paper out): \"2\""},
		{"number not digits", "\x02030,0,0,12x5,000,0,0,0,000,0,0,0\x03\r\n" + s2 + s3, "string 1 field dddd (label length)"},
		{"head flag", "\x02030,0,0,1245,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,yes,0,1,2,6,0,00000000,1,000\x03\r\n" + s3, "string 2 field o (head up)"},
		{"labels remaining too long", "\x02030,0,0,1245,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,6,0,0000000001,1,000\x03\r\n" + s3, "field uuuuuuuu (labels remaining)"},
		{"negative", "\x02030,0,0,1245,000,0,0,0,000,0,0,0\x03\r\n" + s2 + "\x02-1,0\x03\r\n", "string 3 field xxxx (password)"},
		{"empty field", "\x02030,0,0,1245,000,0,0,0,000,0,0,0\x03\r\n" + s2 + "\x021234,\x03\r\n", "string 3 field y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHostStatus([]byte(tc.in))
			require.ErrorIs(t, err, ErrHostStatus)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
