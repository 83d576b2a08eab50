package epcis

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

// hashFixtures lists the committed documents of testdata/hashref with the
// hash IDs the reference wrote for them (nil where it writes none).
func hashFixtures(tb testing.TB) map[string][]string {
	tb.Helper()
	files, err := filepath.Glob("testdata/hashref/*/*")
	require.NoError(tb, err)
	out := map[string][]string{}
	for _, f := range files {
		if !strings.HasSuffix(f, ".xml") && !strings.HasSuffix(f, ".jsonld") {
			continue
		}
		out[f] = nil
		for _, h := range []string{f + ".hashes", strings.TrimSuffix(f, filepath.Ext(f)) + ".hashes"} {
			if b, err := os.ReadFile(h); err == nil {
				out[f] = strings.Fields(string(b))
				break
			}
		}
	}
	require.GreaterOrEqual(tb, len(out), 30, "fixtures missing under testdata/hashref")
	return out
}

func hashIDs(hs []EventHash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}

// TestHashDocumentCommittedFixtures: our IDs are the ones the reference wrote
// for every committed document (no validators needed).
func TestHashDocumentCommittedFixtures(t *testing.T) {
	compared := 0
	for f, want := range hashFixtures(t) {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			hs, err := HashDocument(b, FormatUnknown)
			require.NoError(t, err)
			require.NotEmpty(t, hs)
			if want == nil {
				// The reference cannot hash it: every event still gets an ID,
				// marked as not the reference's.
				for i, h := range hs {
					require.False(t, h.Reference, "event %d", i)
					require.Regexp(t, `^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$`, h.ID)
				}
				return
			}
			require.Equal(t, want, hashIDs(hs))
			for _, h := range hs {
				require.True(t, h.Reference)
			}
			compared++
		})
	}
	require.GreaterOrEqual(t, compared, 30)
}

// refHashes runs GS1's reference generator once on files (one Python
// start-up is most of its time): the hash IDs and pre-hash strings of all
// their events, in order. ok is false when it gave up on any of them.
func refHashes(tb testing.TB, files ...string) (ids, pre []string, ok bool) {
	tb.Helper()
	cmd := exec.Command(filepath.Join(testkit.ValidatorsBin(tb), "epcis-hash"), append([]string{"--prehash"}, files...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return nil, nil, false
	}
	require.NoError(tb, err, "epcis-hash: %s", stderr.String())
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		id, p, _ := strings.Cut(l, "\t")
		ids, pre = append(ids, id), append(pre, p)
	}
	return ids, pre, true
}

// TestHashDocumentEqualsReference runs the reference generator itself on
// every document we have (the committed fixtures, which are GS1's and the
// reference's examples and our corner cases, and documents we write) and
// compares hash IDs and pre-hash strings event by event.
func TestHashDocumentEqualsReference(t *testing.T) {
	testkit.ValidatorsBin(t)
	var good, bad []string
	for f, want := range hashFixtures(t) {
		if want == nil {
			bad = append(bad, f)
		} else {
			good = append(good, f)
		}
	}
	// Our own documents, both bindings.
	dir := t.TempDir()
	for name, d := range map[string]Document{"pharma": {Events: pharmaEvents(t)}, "two": {Events: pharmaEvents(t)[:2]}} {
		x, err := MarshalXML(d)
		require.NoError(t, err)
		j, err := MarshalJSONLD(d)
		require.NoError(t, err)
		for ext, b := range map[string][]byte{".xml": x, ".jsonld": j} {
			p := filepath.Join(dir, name+ext)
			require.NoError(t, os.WriteFile(p, b, 0o600))
			good = append(good, p)
		}
	}
	// XML documents in one run; JSON-LD ones one by one, since the reference
	// keeps the namespaces of one JSON-LD document for the next.
	var batches [][]string
	var xmls []string
	for _, f := range good {
		if strings.HasSuffix(f, ".xml") {
			xmls = append(xmls, f)
		} else {
			batches = append(batches, []string{f})
		}
	}
	batches = append(batches, xmls)
	events := 0
	for _, batch := range batches {
		ids, pre, ok := refHashes(t, batch...)
		require.True(t, ok, "the reference gave up on %v", batch)
		n := 0
		for _, f := range batch {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			hs, err := HashDocument(b, FormatUnknown)
			require.NoError(t, err, f)
			require.LessOrEqual(t, n+len(hs), len(ids), "%s: more events than the reference hashed", f)
			for i, h := range hs {
				require.Equal(t, pre[n+i], h.PreHash, "%s: pre-hash of event %d", f, i)
				require.Equal(t, ids[n+i], h.ID, "%s: event %d", f, i)
				require.True(t, h.Reference)
			}
			n += len(hs)
		}
		require.Equal(t, len(ids), n, "the reference hashed more events in %v", batch)
		events += n
	}
	require.Greater(t, events, 80)
	// Where the reference gives up, so do we, and say so.
	for _, f := range bad {
		_, _, ok := refHashes(t, f)
		require.False(t, ok, "the reference now hashes %s: commit its hashes", f)
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		hs, err := HashDocument(b, FormatUnknown)
		require.NoError(t, err)
		refused := false
		for _, h := range hs {
			refused = refused || !h.Reference
		}
		require.True(t, refused, "%s: every event is marked as the reference's", f)
	}
}

func TestRefTime(t *testing.T) {
	loc := time.Local
	t.Cleanup(func() { time.Local = loc })
	time.Local = time.FixedZone("test", 2*3600)
	for _, c := range []struct{ in, want, err string }{
		{"2020-01-01T00:00:00Z", "2020-01-01T00:00:00.000Z", ""},
		{"2020-01-01T00:00:00.0005Z", "2020-01-01T00:00:00.000Z", ""},     // half to even: down
		{"2020-01-01T00:00:00.0015Z", "2020-01-01T00:00:00.002Z", ""},     // half to even: up
		{"2020-01-01T00:00:00.0025Z", "2020-01-01T00:00:00.002Z", ""},     // half to even: down
		{"2020-01-01T00:00:00.00050001Z", "2020-01-01T00:00:00.000Z", ""}, // beyond microseconds: cut
		{"2020-01-01T00:00:00.123456789-05:00", "2020-01-01T05:00:00.123Z", ""},
		{"2020-01-01T01:30:00+0130", "2020-01-01T00:00:00.000Z", ""},
		{"2020-01-01T02:00:00", "2020-01-01T00:00:00.000Z", ""}, // no zone: local
		{"2020-01-01T00:00:00.9995Z", "", "1000 milliseconds"},
		{"2020-02-30T00:00:00Z", "2020-02-30T00:00:00Z", ""}, // not a date: unchanged
		{"yesterday", "yesterday", ""},
	} {
		got, err := refTime(c.in)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, c.in)
	}
}

func TestRefNumeric(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"5", "5"}, {"+5", "5"}, {"007", "7"}, {"1_000", "1000"}, {"1__0", "1__0"}, {"5.", "5"}, {".5", "0.5"},
		{"2.50", "2.5"}, {"1e3", "1000"}, {"0.00001", "1e-05"}, {"0.0001", "0.0001"}, {"1234567.5", "1234567.5"},
		{"111100001111000000000000", "111100001111000003641344"}, {"-0", "0"}, {"NaN", "NaN"}, {"0x10", "0x10"},
		{"abc", "abc"}, {"", ""}, {"1e-400", "0"},
	} {
		got, err := refNumeric(c.in)
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, c.in)
	}
	_, err := refNumeric("inf")
	require.ErrorIs(t, err, errPyOverflow)
	_, err = refNumeric("1e400")
	require.ErrorIs(t, err, errPyOverflow)
}

func TestPyFloatRepr(t *testing.T) {
	for f, want := range map[float64]string{20: "20.0", 0.1: "0.1", 1e16: "1e+16", 1.5e16: "1.5e+16", 1234567890123456: "1234567890123456.0",
		0.00001: "1e-05", -2.5e-7: "-2.5e-07", 123.456: "123.456"} {
		require.Equal(t, want, pyFloatRepr(f), "%v", f)
	}
	require.Equal(t, "12345678901234567890", pyJSONNumber("12345678901234567890"))
	require.Equal(t, "20.0", pyJSONNumber("20.0"))
	require.Equal(t, "100000.0", pyJSONNumber("1e5"))
}

func TestRefDigitalLink(t *testing.T) {
	for in, want := range map[string]string{
		"urn:epc:id:sgtin:4012345.011111.9876":                            "https://id.gs1.org/01/04012345111118/21/9876",
		"urn:epc:id:sgtin:4012345.011111.1(2)":                            "https://id.gs1.org/01/04012345111118/21/1%282%29",
		"urn:epc:id:sscc:4012345.1112223334":                              "https://id.gs1.org/00/140123451122233341",
		"urn:epc:id:sgln:4012345.00001.0":                                 "https://id.gs1.org/414/4012345000016",
		"urn:epc:id:sgln:4012345.00002.7":                                 "https://id.gs1.org/414/4012345000023/254/7",
		"urn:epc:id:grai:4012345.55555.987":                               "https://id.gs1.org/8003/04012345555554987",
		"urn:epc:id:giai:4000001.12345":                                   "https://id.gs1.org/8004/400000112345",
		"urn:epc:id:gsrn:4012345.0000010253":                              "https://id.gs1.org/8018/401234500000102532",
		"urn:epc:id:gsrnp:4012345.0000010253":                             "https://id.gs1.org/8017/401234500000102532",
		"urn:epc:id:gdti:4012345.55555.1234":                              "https://id.gs1.org/253/40123455555541234",
		"urn:epc:id:ginc:4012345.ABC%2F1":                                 "https://id.gs1.org/401/4012345ABC%2F1",
		"urn:epc:id:itip:4012345.011111.01.02.987":                        "https://id.gs1.org/8006/040123451111180102/21/987",
		"urn:epc:id:upui:4012345.011111.Zz19":                             "https://id.gs1.org/01/04012345111118/235/Zz19",
		"urn:epc:id:pgln:4012345.00000":                                   "https://id.gs1.org/417/4012345000009",
		"urn:epc:id:cpi:4012345.A-B.123":                                  "https://id.gs1.org/8010/4012345A-B/8011/123",
		"urn:epc:id:sgcn:4012345.67890.04711":                             "https://id.gs1.org/255/401234567890104711",
		"urn:epc:class:lgtin:4012345.011111.L%2F7":                        "https://id.gs1.org/01/04012345111118/10/L%2F7",
		"urn:epc:idpat:sgtin:4012345.011111.*":                            "https://id.gs1.org/01/04012345111118",
		"urn:epc:idpat:grai:4012345.55555.*":                              "https://id.gs1.org/8003/04012345555554",
		"urn:epc:idpat:gdti:4012345.55555.*":                              "https://id.gs1.org/253/4012345555554",
		"urn:epc:idpat:sgcn:4012345.67890.*":                              "https://id.gs1.org/255/4012345678901",
		"urn:epc:idpat:cpi:4012345.A-B.*":                                 "https://id.gs1.org/8010/4012345A-B",
		"urn:epc:idpat:itip:4012345.011111.01.02.*":                       "https://id.gs1.org/8006/040123451111180102",
		"urn:epc:idpat:upui:4012345.011111.*":                             "https://id.gs1.org/01/04012345111118",
		"https://example.com/gtin/9520123456788/lot/L1/ser/S1?17=271231":  "https://id.gs1.org/01/09520123456788/21/S1",
		"https://id.gs1.org/01/9520123456788/22/2A/21/X":                  "https://id.gs1.org/01/09520123456788/21/X",
		"https://id.gs1.org/01/12345678/21/1":                             "https://id.gs1.org/01/00000012345678/21/1",
		"urn:epc:id:gsin:4012345.0000012345":                              "", // the reference's pattern wants 16 digits after the prefix
		"urn:epcglobal:cbv:bt:4012345000009:PO1":                          "",
		"https://ref.gs1.org/cbv/BizStep-shipping":                        "",
		"http://ns.example.com/epcis/x":                                   "",
		"https://id.gs1.org/414/4012345000016/254/1?linkType=gs1:pip#foo": "https://id.gs1.org/414/4012345000016/254/1",
	} {
		require.Equal(t, want, refDigitalLink(in), in)
	}
}

// TestHashIDOfTypedEvent: the ID of an event built in Go is the reference's
// ID of that event written as JSON-LD.
func TestHashIDOfTypedEvent(t *testing.T) {
	for i, e := range pharmaEvents(t) {
		id, err := HashID(e)
		require.NoError(t, err)
		b, err := MarshalJSONLD(Document{Events: []Event{e}})
		require.NoError(t, err)
		hs, err := HashDocument(b, FormatJSONLD)
		require.NoError(t, err)
		require.Equal(t, hs[0].ID, id, "event %d", i)
		require.True(t, hs[0].Reference)
	}
	_, err := HashID(Event{Type: ObjectEvent})
	require.ErrorContains(t, err, "eventTime")
}
