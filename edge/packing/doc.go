// Package packing is the packing mode of the edge agent: aggregation at
// the line. Units scanned (a handheld scanner on serial or TCP, or the
// touchscreen) go into the open case; a full case is labelled with its
// SSCC (AI 00, GS1 DataMatrix, ZPL) and recorded as an aggregated event;
// closed cases go onto the open pallet, labelled and recorded the same
// way. A unit not commissioned on this line, already packed, or of another
// order is refused at the scan with the reason. Rework (a unit taken out of
// or replaced in a closed case, a container emptied) is recorded as
// disaggregated and aggregated events.
//
// SSCCs come from central's SSCC ranges (serials/request with kind sscc),
// kept per extension digit in bbolt, requested below a low-water mark with
// a stored request id, and handed out by a durable counter: never twice.
//
// Every packing record is written by RecordEvents, the outbox's commit
// hook, in the transaction that makes the event durable. See README.md.
package packing
