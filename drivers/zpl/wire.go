package zpl

import "time"

// bitsPerByte is what one byte costs on an asynchronous serial line: a start
// bit, eight data bits and a stop bit (8N1).
const bitsPerByte = 10

// WireTime is how long n bytes take on a serial line at baud bits per second,
// counting 10 bits per byte (start + 8 data + stop). It returns 0 for n <= 0 or
// baud <= 0.
func WireTime(n, baud int) time.Duration {
	if n <= 0 || baud <= 0 {
		return 0
	}
	bits := int64(n) * bitsPerByte
	b := int64(baud)
	// Whole seconds and the remainder separately, so large n cannot overflow.
	return time.Duration(bits/b)*time.Second + time.Duration(bits%b*int64(time.Second)/b)
}

// UnitWireTime is the wire time of one unit's recall job (AppendRecall) at the
// given baud rate; the driver reports it beside RecallSize.
func (l Layout) UnitWireTime(f Fields, baud int) time.Duration {
	return WireTime(l.RecallSize(f), baud)
}
