// Package pool keeps a line's stock of granted serial numbers in bbolt and
// hands them out at line speed without touching the disk.
//
// Central grants serials per work order as counter ranges under the
// product's scheme (or, for imported lists, as explicit serials). The pool
// turns positions 0, 1, 2, ... of an order into counters (through the
// ranges, in the order the grants arrived) and counters into serials
// (through shared/serials), so a million serials cost a few ranges.
//
// # Crash safety without a write per unit
//
// Before a position may be handed out, one bbolt transaction moves the
// order's "reserved" mark past it, a block (ReserveBlock, e.g. 128) at a
// time, in the background ahead of need. Take then only advances an
// in-memory position: no I/O and no allocation on the trigger → print path.
//
// Every position's fate (commissioned, decommissioned, voided) is recorded
// by RecordFates, which the outbox calls inside the same transaction that
// makes the event durable: the pool keeps the lowest position without a
// fate ("fated low") and the few fated positions above it. After a crash,
// Open knows exactly which positions may have been handed out (those below
// the reserved mark) and which have a recorded fate; every other position
// in [fated low, reserved) is unaccounted — taken but never printed, or
// printed but never verified — and Recover reports it voided. Take resumes
// at the old reserved mark, so no serial is ever handed out twice. A clean
// Close lowers the mark to the next position, so nothing is voided after a
// clean restart.
//
// # Refill
//
// Run watches the active order's level and its time to empty at the
// current rate. Below LowWaterMinutes it stores a serial request (with a
// fresh request id) before sending it through serials/request, and resends
// the same id until the grant arrives, also after a restart: central never
// allocates twice for one id. An empty pool makes Take fail with ErrEmpty;
// the pool never invents a serial.
//
// At order close, CloseOrder voids what is still unaccounted, returns the
// untaken positions as counter ranges (serials-returned) and appends the
// order's reconciliation (order-closed), so that granted = commissioned +
// decommissioned + voided + returned.
package pool
