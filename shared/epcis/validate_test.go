package epcis

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateRejects(t *testing.T) {
	good := pharmaEvents(t)
	cases := []struct {
		name string
		idx  int
		mut  func(e *Event)
		want string
	}{
		{"misspelt bizStep", 2, func(e *Event) { e.BizStep = "shiping" }, `eventList[2].bizStep: "shiping" is not a CBV 2.0 business step`},
		{"URN bizStep unknown", 2, func(e *Event) { e.BizStep = "urn:epcglobal:cbv:bizstep:flying" }, `eventList[2].bizStep: "urn:epcglobal:cbv:bizstep:flying" is not a CBV 2.0 business step`},
		{"bad disposition", 0, func(e *Event) { e.Disposition = "alive" }, `eventList[0].disposition: "alive" is not a CBV 2.0 disposition`},
		{"active outside commissioning", 2, func(e *Event) { e.Disposition = "active" }, `eventList[2].disposition: "active" is only used with bizStep commissioning`},
		{"bad btt", 2, func(e *Event) { e.BizTransactionList[0].Type = "order" }, `eventList[2].bizTransactionList[0].type: "order" is not a CBV 2.0 business transaction type`},
		{"bad sdt", 2, func(e *Event) { e.SourceList[0].Type = "owner" }, `eventList[2].sourceList[0].type: "owner" is not a CBV 2.0 source/destination type`},
		{"sgtin too long", 0, func(e *Event) { e.EPCList[1] = "urn:epc:id:sgtin:4012345.0123456.1" }, `eventList[0].epcList[1]: "urn:epc:id:sgtin:4012345.0123456.1" is not an EPC URI`},
		{"bad sscc", 1, func(e *Event) { e.ParentID = "urn:epc:id:sscc:4012345.1" }, `eventList[1].parentID: "urn:epc:id:sscc:4012345.1" is not an EPC URI`},
		{"DL bad check digit", 0, func(e *Event) { e.EPCList[0] = "https://id.gs1.org/01/04012345123455/21/1" }, `eventList[0].epcList[0]: "https://id.gs1.org/01/04012345123455/21/1" is not an EPC URI`},
		{"missing action", 3, func(e *Event) { e.Action = "" }, `eventList[3].action: is required`},
		{"missing epcList", 3, func(e *Event) { e.EPCList = nil }, `eventList[3].epcList: is required`},
		{"aggregation without parent", 1, func(e *Event) { e.ParentID = "" }, `eventList[1].parentID: is required for action ADD`},
		{"ilmd on observe", 0, func(e *Event) { e.Action = ActionObserve }, `eventList[0].ilmd: is only allowed with action ADD`},
		{"bad lgtin class", 0, func(e *Event) { e.QuantityList = []QuantityElement{{EPCClass: "urn:epc:class:lgtin:1.2.3"}} }, `eventList[0].quantityList[0].epcClass`},
		{"bad error reason", 6, func(e *Event) { e.ErrorDeclaration.Reason = "oops" }, `eventList[6].errorDeclaration.reason: "oops" is not a CBV 2.0 error reason`},
		{"bad timezone", 3, func(e *Event) { e.EventTimeZoneOffset = "EST" }, `eventList[3].eventTimeZoneOffset: "EST" is not an offset`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events := pharmaEvents(t)
			tc.mut(&events[tc.idx])
			err := Document{Events: events}.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	require.NoError(t, Document{Events: good}.Validate())
	// URN and web-URI spellings of CBV values are accepted.
	e := good[2]
	e.BizStep, e.Disposition = "urn:epcglobal:cbv:bizstep:shipping", "https://ref.gs1.org/cbv/Disp-in_transit"
	dl, ok := toDigitalLink(sscc)
	require.True(t, ok)
	e.EPCList = []string{dl}
	require.NoError(t, e.Validate())

	// A sensor-only ObjectEvent names no object, and GS1's misspelt
	// "Bizstep-" web URI is read as the CBV business step.
	sensor := good[0]
	sensor.EPCList, sensor.ILMD, sensor.Action = nil, nil, ActionObserve
	sensor.BizStep, sensor.Disposition = "https://ref.gs1.org/cbv/Bizstep-sensor_reporting", ""
	require.ErrorContains(t, sensor.Validate(), "epcList: is required")
	sensor.SensorElementList = []json.RawMessage{json.RawMessage(`{"sensorReport":[{"type":"gs1:Temperature","value":4.5,"uom":"CEL"}]}`)}
	require.NoError(t, sensor.Validate())
}
