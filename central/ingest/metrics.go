package ingest

import (
	"time"

	"github.com/serialine/serialine/central/metrics"
)

// ingestMetrics are the figures ingest reports on /metrics.
type ingestMetrics struct {
	messages         *metrics.Counter
	events           *metrics.Counter
	transactions     *metrics.Counter
	applySeconds     *metrics.Counter
	deadLetters      *metrics.Counter
	deadLetterErrors *metrics.Counter
	notApplied       *metrics.Counter
	retries          *metrics.Counter
	acks             *metrics.Counter
	ackErrors        *metrics.Counter
	grants           *metrics.Counter
	ordersPublished  *metrics.Counter
	ackedSeq         *metrics.Gauge
	connected        *metrics.Gauge
}

func newIngestMetrics(r *metrics.Registry, in *Ingest) *ingestMetrics {
	m := &ingestMetrics{
		messages:         r.Counter("serialine_ingest_messages_total", "MQTT messages received, by topic kind.", "kind"),
		events:           r.Counter("serialine_ingest_events_total", "Line events handled, by outcome (applied, dead_letter, duplicate, held behind a gap).", "outcome"),
		transactions:     r.Counter("serialine_ingest_transactions_total", "Event transactions committed (one per batch, or per few queued batches of a line)."),
		applySeconds:     r.Counter("serialine_ingest_apply_seconds_total", "Time spent applying event batches to the database."),
		deadLetters:      r.Counter("serialine_ingest_dead_letters_total", "Whole payloads kept as dead letters by ingest, by topic kind (events dead-lettered one by one count in serialine_ingest_events_total).", "kind"),
		deadLetterErrors: r.Counter("serialine_ingest_dead_letter_errors_total", "Dead letters that could not be stored (database down)."),
		notApplied:       r.Counter("serialine_ingest_not_applied_events_total", "Events not applied because the database failed; not acked, so the lines resend them."),
		retries:          r.Counter("serialine_ingest_retries_total", "Database writes retried after an error."),
		acks:             r.Counter("serialine_ingest_acks_total", "Acks published to the lines."),
		ackErrors:        r.Counter("serialine_ingest_ack_errors_total", "Acks the broker did not take."),
		grants:           r.Counter("serialine_ingest_grants_total", "Serial requests answered, by result (granted, refused, failed).", "result"),
		ordersPublished:  r.Counter("serialine_ingest_orders_published_total", "Retained orders payloads published."),
		ackedSeq:         r.Gauge("serialine_ingest_line_acked_seq", "Highest contiguous seq committed, by line (as of this replica's last commit).", "line"),
		connected:        r.Gauge("serialine_mqtt_connected", "1 while central is connected and subscribed to the broker."),
	}
	// A line's incarnations are summed (missing) or the oldest taken (age).
	r.GaugeFunc("serialine_ingest_gap_missing_seqs", "Seqs a line's held events wait for (all incarnations of its event store).", func() []metrics.Sample {
		return perLine(in.Gaps(), func(g LineGap, prev float64) float64 { return prev + float64(g.Missing) })
	}, "line")
	r.GaugeFunc("serialine_ingest_gap_age_seconds", "How long a line's events have waited behind a gap (its oldest).", func() []metrics.Sample {
		now := time.Now()
		return perLine(in.Gaps(), func(g LineGap, prev float64) float64 { return max(prev, now.Sub(g.Since).Seconds()) })
	}, "line")
	r.GaugeFunc("serialine_ingest_gaps_stale", "Lines whose gap is older than ingest.gap_alert.", func() []metrics.Sample {
		n := 0
		for _, g := range in.Gaps() {
			if g.Stale {
				n++
			}
		}
		return []metrics.Sample{{Value: float64(n)}}
	})
	r.GaugeFunc("serialine_line_status_age_seconds", "Time since each line's last status was received, by line and state.", func() []metrics.Sample {
		var out []metrics.Sample
		now := time.Now()
		for line, s := range in.Statuses() {
			out = append(out, metrics.Sample{Labels: []string{line, string(s.State)}, Value: now.Sub(s.LastSeen).Seconds()})
		}
		return out
	}, "line", "state")
	return m
}

// perLine folds the gaps (sorted by line) into one sample per line.
func perLine(gaps []LineGap, fold func(g LineGap, prev float64) float64) []metrics.Sample {
	var out []metrics.Sample
	for _, g := range gaps {
		if n := len(out); n > 0 && out[n-1].Labels[0] == g.Line {
			out[n-1].Value = fold(g, out[n-1].Value)
			continue
		}
		out = append(out, metrics.Sample{Labels: []string{g.Line}, Value: fold(g, 0)})
	}
	return out
}
