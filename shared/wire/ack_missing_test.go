package wire_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/wire"
)

// TestAckMissing: the gap an ack names starts right after its seq and
// ends at or after its start; it survives encoding.
func TestAckMissing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		missing *wire.SeqRange
		want    string
	}{
		{"none", nil, ""},
		{"right after seq", &wire.SeqRange{From: 11, To: 20}, ""},
		{"one seq", &wire.SeqRange{From: 11, To: 11}, ""},
		{"not after seq", &wire.SeqRange{From: 12, To: 20}, "missing.from"},
		{"at seq", &wire.SeqRange{From: 10, To: 20}, "missing.from"},
		{"ends before it starts", &wire.SeqRange{From: 11, To: 10}, "missing.to"},
		{"beyond the largest seq", &wire.SeqRange{From: 11, To: wire.MaxSeq + 1}, "missing.to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := wire.Ack{V: wire.Version, Line: "L1", Seq: 10, Incarnation: "b1", Missing: tc.missing}
			err := a.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				b, err := wire.Encode(a)
				require.NoError(t, err)
				got, err := wire.DecodeAck(b)
				require.NoError(t, err)
				require.Equal(t, a, got)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
