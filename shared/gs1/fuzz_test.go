package gs1_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/gs1"
)

// Properties every parser must keep, whatever the input:
//   - no panic;
//   - a rejection is a *gs1.Error;
//   - what parses also validates, and every form it is written back to
//     parses again to the same elements.

func requireGS1Error(t *testing.T, err error) {
	t.Helper()
	var ge *gs1.Error
	require.True(t, errors.As(err, &ge), "error %v (%T) is not a *gs1.Error", err, err)
	require.NotEmpty(t, ge.Rule)
	require.NotEmpty(t, ge.Error())
}

func requireRewritable(t *testing.T, es gs1.ElementString) {
	t.Helper()
	require.NotEmpty(t, es)
	require.NoError(t, es.Validate())

	got, err := gs1.ParseBracketed(es.Bracketed())
	require.NoError(t, err, "bracketed %q", es.Bracketed())
	require.Equal(t, es, got)

	got, err = gs1.ParseTransmitted(es.Transmitted())
	require.NoError(t, err, "transmitted %q", es.Transmitted())
	require.Equal(t, es, got)

	sorted := es.Sorted()
	got, err = gs1.Parse("]d2" + sorted.Transmitted())
	require.NoError(t, err)
	require.Equal(t, sorted, got)

	dl, err := es.DigitalLink("")
	if err != nil {
		// Not every valid element string has a Digital Link primary key.
		requireGS1Error(t, err)
		return
	}
	got, err = gs1.ParseDigitalLink(dl)
	require.NoError(t, err, "digital link %q", dl)
	require.Equal(t, es.Map(), got.Map())
	require.Len(t, got, len(es))
}

func addElementSeeds(f *testing.F, form func(gs1.ElementString) string) {
	for _, tc := range roundTripCases {
		f.Add(form(tc.es))
	}
}

func FuzzParseBracketed(f *testing.F) {
	addElementSeeds(f, gs1.ElementString.Bracketed)
	for _, s := range []string{"", "(", "()", "(01)", "(10)A", `(01)09506000134352(10)\(`, "(01)09506000134352(17)250229", "(0A)X", "(99)((", "(01)09506000134352(21)A(235)B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		es, err := gs1.ParseBracketed(s)
		if err != nil {
			requireGS1Error(t, err)
			return
		}
		requireRewritable(t, es)
	})
}

func FuzzParseTransmitted(f *testing.F) {
	addElementSeeds(f, gs1.ElementString.Transmitted)
	for _, s := range []string{"", "]d2", "]d1", gsc, "0109506000134352" + gsc, "]C1" + gsc + "00106141411234567897",
		"8006095060001343520102" + gsc + "21X", "0109506000134352" + "7003251231235910L", "05X", "7299"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		es, err := gs1.ParseTransmitted(s)
		if err != nil {
			requireGS1Error(t, err)
			return
		}
		requireRewritable(t, es)
	})
}

func FuzzParseDigitalLink(f *testing.F) {
	for _, tc := range roundTripCases {
		if dl, err := tc.es.DigitalLink("https://example.com/stem"); err == nil {
			f.Add(dl)
		}
	}
	for _, s := range []string{"", "https://", "https://a/", "https://a/01/09520123456788/", "https://a/01/9520123456788?17=201225&x=1#f",
		"https://a/01/09520123456788/21/S/10/L", "https://a/01/09520123456788?21=S", "https://a/01/09520123456788/10/%2", "http://a/00/faux/01/02345673",
		"https://a/414/0614141123452/254/X?8004=0614141A", "https://a/01/09520123456788?17=201225&10=L"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		es, err := gs1.ParseDigitalLink(s)
		if err != nil {
			requireGS1Error(t, err)
			return
		}
		requireRewritable(t, es)
		// A parsed Digital Link always has a key that can carry the rest,
		// and the URI we write is canonical: written, read and written
		// again, it stays the same.
		dl, err := es.DigitalLink("https://example.com")
		require.NoError(t, err)
		again, err := gs1.Parse(dl)
		require.NoError(t, err)
		dl2, err := again.DigitalLink("https://example.com")
		require.NoError(t, err)
		require.Equal(t, dl, dl2)
	})
}

func FuzzParseSGTINURI(f *testing.F) {
	for _, s := range []string{"urn:epc:id:sgtin:0614141.812345.6789", "urn:epc:id:sgtin:061414112345.8.A%2Fb",
		"urn:epc:id:sgtin:061414.8112345.%22%25%26%2F%3C%3E%3F", "urn:epc:id:sgtin:0614141.812345.%2f", "urn:epc:id:sgtin:0614141.812345.", "urn:epc:id:sgtin:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, serial, err := gs1.ParseSGTINURI(s)
		if err != nil {
			requireGS1Error(t, err)
			return
		}
		require.Len(t, string(g), 14)
		require.True(t, gs1.ValidCheckDigit(string(g)))
		require.True(t, gs1.IsCSET82(serial))
		gcp := strings.IndexByte(s[len(gs1.SGTINURIPrefix):], '.')
		uri, err := gs1.SGTINURI(g, serial, gcp)
		require.NoError(t, err)
		require.True(t, strings.EqualFold(s, uri), "%q rewritten as %q", s, uri)
		g2, serial2, err := gs1.ParseSGTINURI(uri)
		require.NoError(t, err)
		require.Equal(t, g, g2)
		require.Equal(t, serial, serial2)
	})
}

func FuzzParseSSCCURI(f *testing.F) {
	for _, s := range []string{"urn:epc:id:sscc:0614141.1234567890", "urn:epc:id:sscc:061414112345.16789", "urn:epc:id:sscc:0614141.123"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sscc, err := gs1.ParseSSCCURI(s)
		if err != nil {
			requireGS1Error(t, err)
			return
		}
		_, err = gs1.ParseSSCC(string(sscc))
		require.NoError(t, err)
		gcp := strings.IndexByte(s[len(gs1.SSCCURIPrefix):], '.')
		uri, err := gs1.SSCCURI(sscc, gcp)
		require.NoError(t, err)
		require.Equal(t, s, uri)
	})
}

func FuzzParseSGLNURI(f *testing.F) {
	for _, s := range []string{"urn:epc:id:sgln:0614141.12345.400", "urn:epc:id:sgln:061414112345..0", "urn:epc:id:sgln:0614141.12345.A%2F1", "urn:epc:id:sgln:0614141.12345.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		gln, ext, err := gs1.ParseSGLNURI(s)
		if err != nil {
			requireGS1Error(t, err)
			return
		}
		_, err = gs1.ParseGLN(string(gln))
		require.NoError(t, err)
		gcp := strings.IndexByte(s[len(gs1.SGLNURIPrefix):], '.')
		uri, err := gs1.SGLNURI(gln, ext, gcp)
		require.NoError(t, err)
		require.True(t, strings.EqualFold(s, uri), "%q rewritten as %q", s, uri)
	})
}
