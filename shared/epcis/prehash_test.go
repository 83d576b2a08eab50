package epcis

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// recordedOutput is what the reference printed for one document with
// --prehash (testdata/hashref/*/X.ext.prehash, written by regen.sh): per
// event, its hash ID and pre-hash string.
type recordedOutput struct{ ids, pre []string }

func recordedPreHashes(tb testing.TB) map[string]recordedOutput {
	tb.Helper()
	files, err := filepath.Glob("testdata/hashref/*/*.prehash")
	require.NoError(tb, err)
	out := map[string]recordedOutput{}
	for _, p := range files {
		b, err := os.ReadFile(p)
		require.NoError(tb, err)
		var r recordedOutput
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			id, pre, ok := strings.Cut(l, "\t")
			require.True(tb, ok, "%s: a line without tab: %q", p, l)
			r.ids, r.pre = append(r.ids, id), append(r.pre, pre)
		}
		out[strings.TrimSuffix(p, ".prehash")] = r
	}
	require.GreaterOrEqual(tb, len(out), 35, "recorded pre-hash strings missing under testdata/hashref (regen.sh)")
	return out
}

// TestHashDocumentRecordedPreHash: for every committed document the
// reference can hash, our canonical string and ID are the ones it printed,
// event by event (no validators needed), and the recorded IDs are the ones
// in the document's .hashes.
func TestHashDocumentRecordedPreHash(t *testing.T) {
	fixtures := hashFixtures(t)
	events := 0
	for f, rec := range recordedPreHashes(t) {
		t.Run(f, func(t *testing.T) {
			want, ok := fixtures[f]
			require.True(t, ok, "%s.prehash has no document", f)
			require.Equal(t, want, rec.ids, "%s: .prehash and .hashes disagree", f)
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			hs, err := HashDocument(b, FormatUnknown)
			require.NoError(t, err)
			require.Len(t, hs, len(rec.pre))
			for i, h := range hs {
				require.Equal(t, rec.pre[i], h.PreHash, "event %d", i)
				require.Equal(t, rec.ids[i], h.ID, "event %d", i)
				require.True(t, h.Reference, "event %d", i)
			}
		})
		events += len(rec.ids)
	}
	require.Greater(t, events, 100)
	// Every document the reference hashes has its recorded output.
	for f, want := range fixtures {
		if want != nil {
			_, ok := recordedPreHashes(t)[f]
			require.True(t, ok, "%s: no .prehash (run regen.sh)", f)
		}
	}
}

// recordedEvent is one event of a committed document with what the
// reference printed for it.
func recordedEvent(tb testing.TB, file string, i int) (id, pre string) {
	tb.Helper()
	rec, ok := recordedPreHashes(tb)["testdata/hashref/"+file]
	require.True(tb, ok, file)
	require.Less(tb, i, len(rec.ids), file)
	return rec.ids[i], rec.pre[i]
}

// TestHashFieldClasses: each class of field counts in the hash as the
// reference counts it (the recorded pre-hash of our fixtures says so), and
// HashDocument builds the same string.
func TestHashFieldClasses(t *testing.T) {
	cases := []struct {
		name, file string
		event      int
		contains   []string
		excludes   []string
	}{
		{"ObjectEvent ILMD, quantity, extension", "own/fields.jsonld", 0, []string{
			"quantityListquantityElementepcClass=https://id.gs1.org/01/04012345123456/10/LOT42quantity=12.5uom=KGM",
			"ilmdcbvmda:itemExpirationDate=2027-02-28cbvmda:lotNumber=LOT42{https://serialine.dev/epcis/}batch{https://serialine.dev/epcis/}line=L1",
			"{https://serialine.dev/epcis/}reason=commissioned",
			"eventTime=2025-03-01T08:00:00.250ZeventTimeZoneOffset=+01:00"}, nil},
		{"AggregationEvent child quantities", "own/fields.jsonld", 1, []string{
			"parentID=https://id.gs1.org/00/140123450000000013childEPCs", "childQuantityListquantityElement", "quantity=3action=ADD"}, nil},
		{"bizTransactions, sources, destinations sorted", "own/fields.jsonld", 2, []string{
			"bizTransactionListtype=https://ref.gs1.org/cbv/BTT-desadvbizTransaction=urn:epcglobal:cbv:bt:4012345000009:ASN-7type=https://ref.gs1.org/cbv/BTT-po",
			"destinationListtype=https://ref.gs1.org/cbv/SDT-locationdestination=https://id.gs1.org/414/0614141000029",
			"sourceListtype=https://ref.gs1.org/cbv/SDT-locationsource=https://id.gs1.org/414/4012345000016"}, nil},
		{"TransactionEvent", "own/fields.jsonld", 3, []string{
			"eventType=TransactionEvent", "bizTransactionListtype=https://ref.gs1.org/cbv/BTT-inv", "epcClass=https://id.gs1.org/01/04012345123456quantity=10uom=EA"}, nil},
		{"TransformationEvent inputs, outputs, ILMD", "own/fields.jsonld", 4, []string{
			"eventTime=2025-03-01T16:00:00.000ZeventTimeZoneOffset=-05:00inputEPCList", "inputQuantityListquantityElement", "outputEPCList",
			"outputQuantityListquantityElementepcClass=https://id.gs1.org/01/04012345222227/10/OUT1quantity=100",
			"transformationID=https://id.gs1.org/253/40123455555541234", "ilmdcbvmda:bestBeforeDate=2026-01-31cbvmda:lotNumber=OUT1"}, nil},
		{"AssociationEvent", "own/fields.jsonld", 5, []string{"eventType=AssociationEvent", "eventTime=2025-03-01T06:30:00.500ZeventTimeZoneOffset=+05:30"}, nil},
		{"sensor elements", "own/fields.jsonld", 6, []string{
			"sensorElementListsensorElementsensorMetadatatime=2025-03-01T11:59:00.000Z",
			"sensorReporttype=gs1:HumidityminValue=40maxValue=55.5uom=A93sensorReporttype=gs1:Temperaturevalue=4.5uom=CEL"}, nil},
		{"errorDeclaration never counts", "own/fields.jsonld", 7, nil, []string{"errorDeclaration", "incorrect_data", "T-1"}},
		{"persistentDisposition, nested extension", "own/fields.jsonld", 8, []string{
			"persistentDispositionset=https://ref.gs1.org/cbv/Disp-completeness_inferredunset=https://ref.gs1.org/cbv/Disp-completeness_verified",
			"{https://ns.example.com/epcis/}count=3{https://ns.example.com/epcis/}grade{https://ns.example.com/epcis/}iso=15415"}, nil},
		{"XML ILMD resolves cbvmda", "own/epcis12-sbdh.xml", 0, []string{"ilmd{urn:epcglobal:cbv:mda}itemExpirationDate=2026-02-28"}, nil},
		{"1.2 extension wrappers and attributes", "own/epcis12-sbdh.xml", 2, []string{
			"destinationListtype=https://ref.gs1.org/cbv/SDT-owning_party",
			"{http://epcis.gs1us.org/hc/ns}shipFrom=https://id.gs1.org/414/0614141000005{http://epcis.gs1us.org/hc/ns}kind=dc"}, nil},
		{"1.2 TransformationEvent in EventList extension", "own/epcis12-sbdh.xml", 3, []string{"eventType=TransformationEvent"}, nil},
		{"time zone +14:00", "own/zones-empty.jsonld", 0, []string{"eventTime=2024-12-31T10:30:00.000ZeventTimeZoneOffset=+14:00"}, nil},
		{"time zone -12:00", "own/zones-empty.jsonld", 1, []string{"eventTime=2024-12-31T12:30:00.000ZeventTimeZoneOffset=-12:00"}, nil},
		{"time zone +05:45 keeps milliseconds", "own/zones-empty.jsonld", 2, []string{"eventTime=2025-01-01T00:00:00.999Z"}, nil},
		{"leap day, -00:30, sub-millisecond rounds down", "own/zones-empty.jsonld", 4, []string{"eventTime=2024-03-01T00:29:59.999ZeventTimeZoneOffset=-00:30"}, nil},
		{"empty lists leave no trace", "own/zones-empty.jsonld", 5, []string{"+00:00quantityList"}, []string{"epcList", "bizTransactionList", "sourceList", "destinationList"}},
		{"empty childEPCs", "own/zones-empty.jsonld", 6, []string{"parentID=https://id.gs1.org/00/140123450000000013action=OBSERVE"}, []string{"childEPCs"}},
		{"empty ilmd counts, empty JSON list does not", "own/zones-empty.jsonld", 7, []string{"ilmd{https://ns.example.com/epcis/}emptyObject"}, []string{"emptyList", "outputEPCList"}},
		{"empty XML element counts", "own/zones-empty.xml", 7, []string{"ilmd{https://ns.example.com/epcis/}emptyList"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, pre := recordedEvent(t, tc.file, tc.event)
			for _, s := range tc.contains {
				require.Contains(t, pre, s)
			}
			for _, s := range tc.excludes {
				require.NotContains(t, pre, s)
			}
			b, err := os.ReadFile("testdata/hashref/" + tc.file)
			require.NoError(t, err)
			hs, err := HashDocument(b, FormatUnknown)
			require.NoError(t, err)
			require.Equal(t, pre, hs[tc.event].PreHash)
			require.Equal(t, id, hs[tc.event].ID)
		})
	}
}
