package epcis

import (
	"testing"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

// TestXMLSensorTypesInJSONLD: a sensorReport type or exception read from
// XML is written to JSON-LD bare only where GS1's context defines the term;
// "gs1:Humidity" stays as written (a bare "Humidity" fails GS1's JSON
// Schema), and the XML written again says what the document said.
func TestXMLSensorTypesInJSONLD(t *testing.T) {
	cases := []struct{ field, in, want string }{
		{"type", "gs1:Temperature", "Temperature"},
		{"type", "gs1:AbsoluteHumidity", "AbsoluteHumidity"},
		{"type", "gs1:Humidity", "gs1:Humidity"},
		{"type", "gs1:Molar_concentration", "gs1:Molar_concentration"},
		{"type", "https://example.com/voc/Pressure", "https://example.com/voc/Pressure"},
		{"type", "Temperature", "Temperature"},
		{"exception", "gs1:ALARM_CONDITION", "ALARM_CONDITION"},
		{"exception", "gs1:Temperature", "gs1:Temperature"},
	}
	for _, c := range cases {
		t.Run(c.field+" "+c.in, func(t *testing.T) {
			require.Equal(t, c.want, bareSensorValue(c.field, c.in))
		})
	}
	require.Greater(t, len(gs1SensorTerms()["type"]), 50, "measurement types read from GS1's context")

	src := []byte(`<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" creationDate="2025-01-01T00:00:00Z">
<EPCISBody><EventList><ObjectEvent><eventTime>2025-01-01T00:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset>
<epcList><epc>urn:epc:id:sscc:4012345.1000000001</epc></epcList><action>OBSERVE</action>
<sensorElementList><sensorElement><sensorReport type="gs1:Temperature" value="4" uom="CEL"/>
<sensorReport type="gs1:Humidity" value="40" uom="A93" exception="gs1:ALARM_CONDITION"/></sensorElement></sensorElementList>
</ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>`)
	d, err := ParseXML(src)
	require.NoError(t, err)
	js, err := MarshalJSONLD(d)
	require.NoError(t, err)
	require.Contains(t, string(js), `"type":"Temperature"`)
	require.Contains(t, string(js), `"type":"gs1:Humidity"`)
	require.Contains(t, string(js), `"exception":"ALARM_CONDITION"`)
	x, err := MarshalXML(d)
	require.NoError(t, err)
	require.Contains(t, string(x), `type="gs1:Temperature"`)
	require.Contains(t, string(x), `type="gs1:Humidity"`)
	t.Run("GS1 JSON Schema", func(t *testing.T) {
		msg, code := testkit.RunValidator(t, "validate-epcis-json", "--schema", "modular", testkit.WriteTemp(t, "sensor.jsonld", js))
		require.Equal(t, 0, code, "%s\n%s", msg, js)
	})
}
