package zpl

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// roundTripCases are units whose data and text stress the escaping.
func roundTripCases() []struct {
	name string
	f    Fields
} {
	return []struct {
		name string
		f    Fields
	}{
		{"plain DSCSA unit", sampleFields()},
		{"underscore quote percent ampersand in data", Fields{
			Data: gs1(`0109506000134352172812311010A_1"%&B_`, `21X__Y_1&"%`),
			Text: []string{"LOT A_1\"%&B_", "SN X__Y_1&\"%"},
		}},
		{"caret tilde backslash in text", Fields{
			Data: gs1("01095060001343521010", "21A"),
			Text: []string{"Brand^Name~Forte\\500", "^^~~", "\\5E not an escape", "Paracétamol 500 mg", "_1 ~1 ^FS"},
		}},
		{"ZPL syntax in data", Fields{
			Data: gs1("10^XZ~HS", `21\5E^FS`),
			Text: []string{"^XZ"},
		}},
		{"control and 8-bit bytes", Fields{
			Data: "10\x01\x02\r\n\x7f\xff",
			Text: []string{"tab\there"},
		}},
		{"fewer text lines than the layout", Fields{
			Data: "0109506000134352",
			Text: []string{"", "only the second"},
		}},
	}
}

func TestRoundTripFormatAndRecall(t *testing.T) {
	for _, dpmm := range []int{6, 8, 12, 24} {
		l := DefaultLayout(dpmm)
		for _, tc := range roundTripCases() {
			t.Run(strconv.Itoa(dpmm)+"dpmm/"+tc.name, func(t *testing.T) {
				p, _ := newTestParser(t)
				labels, cmds := feedAll(t, p, l.Format())
				require.Empty(t, labels, "storing a format prints nothing")
				require.Empty(t, cmds)
				require.Equal(t, []string{l.Name}, p.StoredFormats())

				labels, cmds = feedAll(t, p, l.AppendRecall(nil, tc.f))
				require.Empty(t, cmds)
				require.Len(t, labels, 1)
				got := labels[0]
				require.Equal(t, l.WidthDots, got.WidthDots)
				require.Equal(t, l.HeightDots, got.HeightDots)
				require.Equal(t, 1, got.Quantity)
				require.Equal(t, l.Name, got.Format)
				require.Equal(t, expectedElements(l, tc.f, true), got.Elements)
				require.False(t, p.InFormat())
			})
		}
	}
}

func TestRoundTripStandalone(t *testing.T) {
	l := DefaultLayout(8)
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTestParser(t)
			labels, _ := feedAll(t, p, l.Standalone(tc.f))
			require.Len(t, labels, 1)
			require.Equal(t, "", labels[0].Format)
			require.Equal(t, l.WidthDots, labels[0].WidthDots)
			require.Equal(t, expectedElements(l, tc.f, false), labels[0].Elements)
			require.Empty(t, p.StoredFormats(), "a standalone label stores nothing")
		})
	}
}

func TestRecallOfManyUnitsKeepsTheFormat(t *testing.T) {
	l := DefaultLayout(8)
	p, _ := newTestParser(t)
	feedAll(t, p, l.Format())
	var stream []byte
	for i := range 50 {
		f := sampleFields()
		f.Data = gs1("0100300123456785172812311012345A", "21SN"+strconv.Itoa(i))
		stream = l.AppendRecall(stream, f)
	}
	labels, _ := feedAll(t, p, stream)
	require.Len(t, labels, 50)
	for i, lb := range labels {
		require.Equal(t, gs1("0100300123456785172812311012345A", "21SN"+strconv.Itoa(i)), lb.Elements[0].Data)
		require.Len(t, lb.Elements, 6)
	}
}

// splitStream is a session as a printer might receive it: format, recalls,
// status requests, a standalone label, noise and a prefix change.
func splitStream() []byte {
	l := DefaultLayout(8)
	var b bytes.Buffer
	b.WriteString("\r\n~HS")
	b.Write(l.Format())
	b.Write(l.AppendRecall(nil, sampleFields()))
	b.WriteString("~HS\r\n")
	for _, tc := range roundTripCases() {
		b.Write(l.AppendRecall(nil, tc.f))
	}
	b.Write(l.Standalone(roundTripCases()[1].f))
	b.WriteString("garbage^XA^FO10,20^A0N,30^FX comment ^ZZunknown^FDx^FS^PQ3^XZ~JA~SD15")
	b.WriteString("^XA^CC++FO1,2+FDcaret^literal+FS+XZ+CC^")
	b.WriteString("^XA^FO5,5^BXN,4,200,,,,_^FH\\^FD_101234_1\\5F\\5F^FS^XZ~PS~JR")
	return b.Bytes()
}

func TestParserSplitAtEveryByteGivesTheSameLabels(t *testing.T) {
	stream := splitStream()
	p, _ := newTestParser(t)
	wantLabels, wantCmds := feedAll(t, p, stream)
	// The recall of sampleFields, the cases, the standalone label and the
	// three hand-written ones.
	require.Len(t, wantLabels, 1+len(roundTripCases())+1+3)
	require.Equal(t, gs1("01234", "_"), wantLabels[len(wantLabels)-1].Elements[0].Data)
	require.Equal(t, "caret^literal", wantLabels[len(wantLabels)-2].Elements[0].Data)
	require.Equal(t, []Command{{Code: "~HS"}, {Code: "~HS"}, {Code: "~JA"}, {Code: "~SD", Params: "15"}, {Code: "~PS"}, {Code: "~JR"}}, wantCmds)

	for i := 1; i < len(stream); i++ {
		p := quietParser(t)
		labels, cmds := feedAll(t, p, stream[:i], stream[i:])
		require.Equal(t, wantLabels, labels, "split at byte %d", i)
		require.Equal(t, wantCmds, cmds, "split at byte %d", i)
	}

	t.Run("one byte at a time", func(t *testing.T) {
		p := quietParser(t)
		chunks := make([][]byte, len(stream))
		for i := range stream {
			chunks[i] = stream[i : i+1]
		}
		labels, cmds := feedAll(t, p, chunks...)
		require.Equal(t, wantLabels, labels)
		require.Equal(t, wantCmds, cmds)
	})
}

func TestParserLabels(t *testing.T) {
	tests := []struct {
		name string
		zpl  string
		want []Label
		cmds []Command
		logs []string
	}{
		{
			name: "size quantity home and fonts",
			zpl:  "^XA^PW400^LL300^LH10,20^CF0,30^FO5,6^FDa^FS^FT7,8^A0N,40,35^FDb^FS^FO1,1^ADN^FDc^FS^PQ4^XZ",
			want: []Label{{WidthDots: 400, HeightDots: 300, Quantity: 4, Elements: []Element{
				{Kind: Text, X: 15, Y: 26, Data: "a", FontHeight: 30, FontWidth: 30, Field: -1},
				{Kind: Text, X: 17, Y: 28, Data: "b", FontHeight: 40, FontWidth: 35, Field: -1},
				{Kind: Text, X: 11, Y: 21, Data: "c", FontHeight: 30, FontWidth: 30, Field: -1},
			}}},
		},
		{
			name: "default font is 9x5 and lower-case commands work",
			zpl:  "^xa^fo1,2^fdx^fs^xz",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Text, X: 1, Y: 2, Data: "x", FontHeight: 9, FontWidth: 5, Field: -1}}}},
		},
		{
			name: "unknown command logged and ignored",
			zpl:  "^XA^FO1,1^ZZfoo^FDx^FS^XZ",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Text, X: 1, Y: 1, Data: "x", FontHeight: 9, FontWidth: 5, Field: -1}}}},
			logs: []string{"unknown command ignored", "command=^ZZ"},
		},
		{
			name: "malformed parameter logged, default used",
			zpl:  "^XA^FOabc,7^FDx^FS^PQ-1^XZ",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Text, X: 0, Y: 7, Data: "x", FontHeight: 9, FontWidth: 5, Field: -1}}}},
			logs: []string{"malformed parameter", "command=^FO", "param=x", "value=abc", "command=^PQ", "param=quantity"},
		},
		{
			name: "other barcodes and graphics are not reported",
			zpl:  "^XA^FO1,1^B3N,N,50^FD123^FS^FO2,2^GB10,10,1^FS^FO3,3^FDt^FS^XZ",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Text, X: 3, Y: 3, Data: "t", FontHeight: 9, FontWidth: 5, Field: -1}}}},
			logs: []string{"barcode type not supported", "command=^B3"},
		},
		{
			name: "GS1-128: subset C, FNC1 first, ^BY module and height",
			zpl:  "^XA^BY3,,80^FO40,20^BCN,,N,N,N,N^FD>;>800095060000000000086^FS^XZ",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Code128, X: 40, Y: 20, Data: "00095060000000000086", GS1: true, ModuleDots: 3, HeightDots: 80, Field: -1}}}},
		},
		{
			name: "Code 128 invocation codes resolved, ^BC height wins over ^BY",
			zpl:  "^XA^BY2,,80^FO1,1^BCN,50^FD>:A><B>0>=>5123456>8>6x>4y^FS^XZ",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Code128, X: 1, Y: 1, Data: "A^B>~123456\x1dxy", ModuleDots: 2, HeightDots: 50, Field: -1}}}},
			logs: []string{"invocation code dropped", "sequence=>4"},
		},
		{
			name: "format without fields prints nothing",
			zpl:  "^XA^MMT^XZ^XA^FO1,1^FD^FS^XZ",
		},
		{
			name: "tilde command inside a label ends the field data",
			zpl:  "^XA^FO1,1^FDab~HS^FS^XZ",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Text, X: 1, Y: 1, Data: "ab", FontHeight: 9, FontWidth: 5, Field: -1}}}},
			cmds: []Command{{Code: "~HS"}},
		},
		{
			name: "CR and LF are ignored, also inside field data",
			zpl:  "^XA\r\n^FO1,\r\n1^FDa\r\nb^FS\n^XZ\n",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Text, X: 1, Y: 1, Data: "ab", FontHeight: 9, FontWidth: 5, Field: -1}}}},
		},
		{
			name: "caret and tilde changed",
			zpl:  "^XA^CC##CT%#FO1,1#FDa^b~c#FS%HS#XZ%CC^^XA^FO2,2^FDd^FS^XZ",
			want: []Label{
				{Quantity: 1, Elements: []Element{{Kind: Text, X: 1, Y: 1, Data: "a^b~c", FontHeight: 9, FontWidth: 5, Field: -1}}},
				{Quantity: 1, Elements: []Element{{Kind: Text, X: 2, Y: 2, Data: "d", FontHeight: 9, FontWidth: 5, Field: -1}}},
			},
			cmds: []Command{{Code: "~HS"}},
		},
		{
			name: "delimiter changed",
			zpl:  "^XA^CD;^FO4;5^FDa,b^FS^XZ",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Text, X: 4, Y: 5, Data: "a,b", FontHeight: 9, FontWidth: 5, Field: -1}}}},
		},
		{
			name: "bad prefix change refused",
			zpl:  "^XA^CC~^FO1,1^FDa^FS^XZ",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Text, X: 1, Y: 1, Data: "a", FontHeight: 9, FontWidth: 5, Field: -1}}}},
			logs: []string{"command=CC"},
		},
		{
			name: "^XZ closes a field without ^FS",
			zpl:  "^XA^FO1,1^FDlast^XZ",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Text, X: 1, Y: 1, Data: "last", FontHeight: 9, FontWidth: 5, Field: -1}}}},
		},
		{
			name: "commands outside a format are ignored",
			zpl:  "^FO1,1^FDx^FS^XZ",
			logs: []string{"outside ^XA..^XZ"},
		},
		{
			name: "^FH default indicator is underscore; malformed escape kept",
			zpl:  "^XA^FO1,1^FH^FD_41_4z_^FS^XZ",
			want: []Label{{Quantity: 1, Elements: []Element{{Kind: Text, X: 1, Y: 1, Data: "A_4z_", FontHeight: 9, FontWidth: 5, Field: -1}}}},
			logs: []string{"malformed ^FH escape"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, logs := newTestParser(t)
			labels, cmds := feedAll(t, p, []byte(tc.zpl))
			require.Equal(t, tc.want, labels)
			require.Equal(t, tc.cmds, cmds)
			for _, want := range tc.logs {
				require.Contains(t, logs.String(), want)
			}
		})
	}
}

func TestParserDataMatrixEscapes(t *testing.T) {
	tests := []struct {
		name    string
		bx, fd  string
		data    string
		gs1     bool
		quality int
	}{
		{"FNC1 first and as separator", "^BXN,4,200,,,,_", "^FD_11012_121A", gs1("1012", "21A"), true, 200},
		{"doubled escape is literal", "^BXN,4,200,,,,_", "^FD_110A__1__", "10A_1_", true, 200},
		{"decimal byte", "^BXN,4,200,,,,_", "^FDA_d066C", "ABC", false, 200},
		{"control shift", "^BXN,4,200,,,,_", "^FDa_Gb_@c", "a\x07b\x00c", false, 200},
		{"FNC2 structured append and code page dropped", "^BXN,4,200,,,,_", "^FD_2001002003_5009xy", "xy", false, 200},
		{"FNC1 not first is GS", "^BXN,4,200,,,,_", "^FDab_1cd", "ab\x1dcd", false, 200},
		{"unknown escape kept", "^BXN,4,200,,,,_", "^FDa_xb_d999", "a_xb_d999", false, 200},
		{"escape at the end kept", "^BXN,4,200,,,,_", "^FDab_", "ab_", false, 200},
		{"default escape is tilde, sent hex-escaped", "^BXN,4,200", "^FH^FD_7E1010950600013435_7E121A", gs1("010950600013435", "21A"), true, 200},
		{"other escape character", "^BXN,4,200,,,,}", "^FD}11012}121A_1", gs1("1012", "21A_1"), true, 200},
		{"^FH runs before the ^BX escapes", "^BXN,4,200,,,,_", "^FH\\^FD\\5F110A\\5F\\5F", "10A_", true, 200},
		{"quality 0 has no escapes", "^BXN,4,0,,,,_", "^FD_110", "_110", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTestParser(t)
			labels, _ := feedAll(t, p, []byte("^XA^FO7,9"+tc.bx+tc.fd+"^FS^XZ"))
			require.Len(t, labels, 1)
			require.Equal(t, []Element{{Kind: DataMatrix, X: 7, Y: 9, Data: tc.data, GS1: tc.gs1, ModuleDots: 4, Quality: tc.quality, Field: -1}}, labels[0].Elements)
		})
	}
}

func TestParserStoredFormats(t *testing.T) {
	t.Run("default data in the format, recall overrides some fields", func(t *testing.T) {
		p, _ := newTestParser(t)
		labels, _ := feedAll(t, p, []byte(
			"^XA^DFE:ONE^FS^PW100^FO1,1^FN1^FDdefault1^FS^FO2,2^FN2^FDdefault2^FS^FO3,3^FDstatic^FS^XZ"+
				"^XA^XFE:ONE.ZPL^FS^FN2^FDnew2^FS^PQ2^XZ"))
		require.Equal(t, []string{"E:ONE.ZPL"}, p.StoredFormats())
		require.Equal(t, []Label{{WidthDots: 100, Quantity: 2, Format: "E:ONE.ZPL", Elements: []Element{
			{Kind: Text, X: 1, Y: 1, Data: "default1", FontHeight: 9, FontWidth: 5, Field: 1},
			{Kind: Text, X: 2, Y: 2, Data: "new2", FontHeight: 9, FontWidth: 5, Field: 2},
			{Kind: Text, X: 3, Y: 3, Data: "static", FontHeight: 9, FontWidth: 5, Field: -1},
		}}}, labels)
	})
	t.Run("one field number used twice gets the data twice", func(t *testing.T) {
		p, _ := newTestParser(t)
		labels, _ := feedAll(t, p, []byte("^XA^DFTWICE^FS^FO1,1^FN1^FS^FO2,2^BXN,3,200,,,,_^FN1^FS^XZ^XA^XFTWICE^FS^FN1^FD_110^FS^XZ"))
		require.Len(t, labels, 1)
		require.Equal(t, "_110", labels[0].Elements[0].Data)
		require.Equal(t, "10", labels[0].Elements[1].Data)
		require.True(t, labels[0].Elements[1].GS1)
	})
	t.Run("template ^FH applies to recalled data", func(t *testing.T) {
		p, _ := newTestParser(t)
		labels, _ := feedAll(t, p, []byte("^XA^DFR:H.ZPL^FS^FO1,1^FH\\^FN1^FS^XZ^XA^XFR:H.ZPL^FS^FN1^FDa\\5Eb^FS^XZ"))
		require.Len(t, labels, 1)
		require.Equal(t, "a^b", labels[0].Elements[0].Data)
	})
	t.Run("recall of an unknown format", func(t *testing.T) {
		p, logs := newTestParser(t)
		labels, _ := feedAll(t, p, []byte("^XA^XFR:NONE.ZPL^FS^FN1^FDx^FS^XZ"))
		require.Contains(t, logs.String(), "recall of a format not stored")
		require.Contains(t, logs.String(), "format=R:NONE.ZPL")
		require.Equal(t, []Label{{Quantity: 1, Elements: []Element{{Kind: Text, Data: "x", FontHeight: 9, FontWidth: 5, Field: 1}}}}, labels)
	})
	t.Run("storing again replaces the format", func(t *testing.T) {
		p, _ := newTestParser(t)
		labels, _ := feedAll(t, p, []byte("^XA^DFF^FS^FO1,1^FN1^FS^XZ^XA^DFF^FS^FO9,9^FN1^FS^XZ^XA^XFF^FS^FN1^FDx^FS^XZ"))
		require.Len(t, labels, 1)
		require.Equal(t, 9, labels[0].Elements[0].X)
	})
	t.Run("a stored format cannot recall another", func(t *testing.T) {
		p, logs := newTestParser(t)
		labels, _ := feedAll(t, p, []byte("^XA^DFA^FS^XFA^FS^FO1,1^FDa^FS^XZ^XA^XFA^FS^XZ"))
		require.Contains(t, logs.String(), "^XF inside a stored format ignored")
		require.Len(t, labels, 1)
		require.Len(t, labels[0].Elements, 1)
	})
	t.Run("format memory is bounded", func(t *testing.T) {
		p, logs := newTestParser(t)
		var b strings.Builder
		for i := range MaxStoredFormats + 3 {
			b.WriteString("^XA^DFF" + strconv.Itoa(i) + "^FS^FO1,1^FN1^FS^XZ")
		}
		feedAll(t, p, []byte(b.String()))
		require.Len(t, p.StoredFormats(), MaxStoredFormats)
		require.Contains(t, logs.String(), "format memory full")
	})
	t.Run("partial format", func(t *testing.T) {
		p, _ := newTestParser(t)
		feedAll(t, p, []byte("^XA^FO1,1"))
		require.True(t, p.InFormat())
		feedAll(t, p, []byte("^XZ"))
		require.False(t, p.InFormat())
	})
}

func TestParserDropsOverlongCommand(t *testing.T) {
	p, logs := newTestParser(t)
	long := append([]byte("^XA^FO1,1^FD"), bytes.Repeat([]byte("a"), MaxCommandBytes+10)...)
	labels, _, err := p.Feed(long)
	require.ErrorIs(t, err, ErrCommandTooLong)
	require.Empty(t, labels)
	require.Contains(t, logs.String(), "command too long")
	// More of the same command is dropped too; the next command parses.
	labels, _, err = p.Feed([]byte("aaaa^FS^FO2,2^FDok^FS^XZ"))
	require.NoError(t, err)
	require.Len(t, labels, 1)
	require.Equal(t, "ok", labels[0].Elements[0].Data)

	// Whole or split, an over-long command is dropped the same way.
	p2 := quietParser(t)
	whole := append(long, []byte("^FS^FO2,2^FDok^FS^XZ")...)
	labels, _, err = p2.Feed(whole)
	require.ErrorIs(t, err, ErrCommandTooLong)
	require.Len(t, labels, 1)
	require.Equal(t, "ok", labels[0].Elements[0].Data)
}
