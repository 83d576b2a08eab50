// Package ingest is central's MQTT side: a paho client of the broker (the
// embedded one or an external one, by the same code path) that
//
//   - applies the lines' event batches to the store (one transaction per
//     batch, or per few queued batches of one line), in order per line and
//     concurrently across lines, and acks the highest contiguous seq on the
//     line's acks topic only after the commit;
//   - answers serial-number requests with grants (idempotent by request id);
//   - keeps the lines' retained status in memory for the UI;
//   - publishes each line's released work orders, retained, at start-up
//     (every connect) and whenever the API releases or closes an order.
//
// Events and serial requests are read through a shared subscription
// ($share/{group}/...), so several central replicas split the feed; the
// database is their only shared state. A payload that cannot be applied
// (not JSON, invalid, a line publishing under another line's topic, an
// unknown line) is kept as a dead letter with the reason and never holds up
// the messages behind it. Gaps in a line's seqs are held by the store and
// reported here (Gaps, metrics) until they fill; a gap older than GapAlert
// is flagged stale and logged, never skipped silently.
package ingest
