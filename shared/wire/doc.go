// Package wire is the contract between the edge agent on a packaging line
// and central: MQTT 3.1.1 topics and the versioned JSON payloads sent on
// them. Both sides import it, so a payload that one side encodes the other
// decodes and validates with the same rules.
//
// # Topics
//
// Every topic is under serialine/v1/lines/{line}/, where a line id is 1 to
// 64 characters of [A-Za-z0-9_-] (never an MQTT wildcard or separator):
//
//	kind              direction        QoS  retained  payload
//	events            edge → central   1    no        EventBatch
//	acks              central → edge   1    no        Ack
//	status            edge → central   1    yes       Status (also the last will, State "offline")
//	orders            central → edge   1    yes       Orders
//	serials/request   edge → central   1    no        SerialRequest
//	serials/grant     central → edge   1    no        SerialGrant
//
// A SerialRequest of Kind RequestSSCC asks for SSCC serial references
// (AI 00) under an SSCCPrefix (company prefix + extension digit) for the
// line's cases and pallets; its SerialGrant carries the same kind and
// prefix and the reference ranges. Kind was added within version 1: an
// empty kind is a serials request, as before.
//
// Topic builds a topic, ParseTopic takes one apart, Filter and SharedFilter
// give the subscription filters central uses (one per kind for all lines;
// the shared form lets several central replicas split the feed), and Topics
// describes QoS and retention.
//
// # Delivery
//
// Events are delivered at least once end to end: the edge keeps each event
// in its outbox until an Ack covers its Seq, and central applies each event
// ID once. Seq numbers a line's events 1, 2, 3, ... without gaps; central
// applies them contiguously and acks the highest contiguous Seq it has
// durably committed.
//
// # Versions and forward compatibility
//
// Every payload carries "v": 1 (Version). A payload with another version, or
// none, is rejected with an error naming the field v. Within version 1 the
// decoders ignore JSON fields they do not know: a newer peer may add optional
// fields without breaking an older one, which matters because the edge and
// central of a site are upgraded at different times. Anything that changes
// the meaning of an existing field, or makes a new field required, takes a
// new version. (Typos in field names are therefore not caught by decoding;
// the required-field rules of Validate catch the ones that matter.)
//
// Decoding is strict about the JSON itself: member names match exactly
// (case included), a member given twice and invalid UTF-8 are errors. It
// uses the JSON v2 implementation (go-json-experiment/json); see decode.
//
// # Validation
//
// Every payload type has a Validate method and every Decode function
// validates after decoding. Errors are *FieldError naming the field by its
// JSON path and the rule broken, with GS1 rules reported by package gs1:
//
//	events[3].gtin: AI (01) "09506000134353": check digit: ...
//	events[0].reason: "lost" is not a reason; use one of no-read, mismatch, ...
//	v: version 2 is not supported (this build speaks 1)
//
// DecodeEventBatch reports invalid events as a *BatchError while still
// returning the batch, so that central can dead-letter the bad events and
// apply the others: one bad event must never block the line's sequence.
// DecodeCheckedBatch also hands each event over as a CheckedEvent carrying
// its own Validate result, so that whoever applies the events trusts it
// instead of validating each event again.
// Payloads are capped at MaxPayloadBytes and batches at MaxBatchEvents.
package wire
