package plcsim

import (
	"encoding/binary"
	"time"

	"github.com/serialine/serialine/drivers/plc"
)

// Modbus function codes served.
const (
	fcReadCoils              = 0x01
	fcReadDiscreteInputs     = 0x02
	fcReadHoldingRegisters   = 0x03
	fcReadInputRegisters     = 0x04
	fcWriteSingleCoil        = 0x05
	fcWriteSingleRegister    = 0x06
	fcWriteMultipleCoils     = 0x0F
	fcWriteMultipleRegisters = 0x10
)

// Modbus exception codes.
const (
	exIllegalFunction    = 0x01
	exIllegalDataAddress = 0x02
	exIllegalDataValue   = 0x03
	exGatewayNoResponse  = 0x0B
)

// ref points at one word (or bit) of a register-map item.
type ref struct {
	item plc.Item
	word uint16 // 0 or 1 within a 32-bit item
}

func buildLookup(m plc.RegisterMap) map[plc.Table]map[uint16]ref {
	lookup := map[plc.Table]map[uint16]ref{}
	for _, it := range m.Items() {
		if lookup[it.Table] == nil {
			lookup[it.Table] = map[uint16]ref{}
		}
		for w := uint16(0); w < it.Width; w++ {
			lookup[it.Table][it.Address+w] = ref{it, w}
		}
	}
	return lookup
}

func exception(fc byte, code byte) []byte { return []byte{fc | 0x80, code} }

// handlePDU serves one request PDU (function code and data) and returns the
// response PDU. Every address of a request must belong to the register map:
// a PLC program that answers zeros for unknown addresses would hide a map
// that does not match the edge's.
func (s *Sim) handlePDU(req []byte) []byte {
	if len(req) == 0 {
		return nil
	}
	fc, data := req[0], req[1:]
	u16 := func(i int) uint16 { return binary.BigEndian.Uint16(data[i:]) }
	switch fc {
	case fcReadCoils, fcReadDiscreteInputs, fcReadHoldingRegisters, fcReadInputRegisters:
		if len(data) != 4 {
			return exception(fc, exIllegalDataValue)
		}
		addr, qty := u16(0), u16(2)
		limit := uint16(125)
		if fc == fcReadCoils || fc == fcReadDiscreteInputs {
			limit = 2000
		}
		if qty == 0 || qty > limit {
			return exception(fc, exIllegalDataValue)
		}
		if int(addr)+int(qty) > 0x10000 {
			return exception(fc, exIllegalDataAddress)
		}
		return s.read(fc, addr, qty)
	case fcWriteSingleCoil:
		if len(data) != 4 {
			return exception(fc, exIllegalDataValue)
		}
		v := u16(2)
		if v != 0xFF00 && v != 0x0000 {
			return exception(fc, exIllegalDataValue)
		}
		if ex := s.writeBits(u16(0), []bool{v == 0xFF00}); ex != 0 {
			return exception(fc, ex)
		}
		return append([]byte{fc}, data...)
	case fcWriteSingleRegister:
		if len(data) != 4 {
			return exception(fc, exIllegalDataValue)
		}
		if ex := s.writeRegs(u16(0), []uint16{u16(2)}); ex != 0 {
			return exception(fc, ex)
		}
		return append([]byte{fc}, data...)
	case fcWriteMultipleCoils, fcWriteMultipleRegisters:
		if len(data) < 5 {
			return exception(fc, exIllegalDataValue)
		}
		addr, qty, count := u16(0), u16(2), int(data[4])
		values := data[5:]
		var ex byte
		if fc == fcWriteMultipleCoils {
			if qty == 0 || qty > 0x7B0 || count != (int(qty)+7)/8 || len(values) != count {
				return exception(fc, exIllegalDataValue)
			}
			if int(addr)+int(qty) > 0x10000 {
				return exception(fc, exIllegalDataAddress)
			}
			bits := make([]bool, qty)
			for i := range bits {
				bits[i] = values[i/8]&(1<<(i%8)) != 0
			}
			ex = s.writeBits(addr, bits)
		} else {
			if qty == 0 || qty > 0x7B || count != 2*int(qty) || len(values) != count {
				return exception(fc, exIllegalDataValue)
			}
			if int(addr)+int(qty) > 0x10000 {
				return exception(fc, exIllegalDataAddress)
			}
			regs := make([]uint16, qty)
			for i := range regs {
				regs[i] = binary.BigEndian.Uint16(values[2*i:])
			}
			ex = s.writeRegs(addr, regs)
		}
		if ex != 0 {
			return exception(fc, ex)
		}
		return append([]byte{fc}, data[:4]...)
	default:
		return exception(fc, exIllegalFunction)
	}
}

func tableOf(fc byte) plc.Table {
	switch fc {
	case fcReadCoils:
		return plc.Coils
	case fcReadDiscreteInputs:
		return plc.DiscreteInputs
	case fcReadInputRegisters:
		return plc.InputRegisters
	}
	return plc.HoldingRegisters
}

// read answers a read request in one locked snapshot, so a 32-bit counter
// is never torn between its two registers.
func (s *Sim) read(fc byte, addr, qty uint16) []byte {
	table := tableOf(fc)
	s.mu.Lock()
	events := s.syncLocked()
	defer s.unlockAndDispatch(events)
	refs := make([]ref, qty)
	for i := range refs {
		r, ok := s.lookup[table][addr+uint16(i)]
		if !ok {
			return exception(fc, exIllegalDataAddress)
		}
		refs[i] = r
	}
	if table == plc.Coils || table == plc.DiscreteInputs {
		out := make([]byte, 2+(int(qty)+7)/8)
		out[0], out[1] = fc, byte(len(out)-2)
		for i, r := range refs {
			if s.bitLocked(r) {
				out[2+i/8] |= 1 << (i % 8)
			}
		}
		return out
	}
	out := make([]byte, 2, 2+2*int(qty))
	out[0], out[1] = fc, byte(2*qty)
	for _, r := range refs {
		out = binary.BigEndian.AppendUint16(out, s.wordLocked(r))
	}
	return out
}

func (s *Sim) bitLocked(r ref) bool {
	switch r.item.Key {
	case plc.KeyRunning:
		return s.runningLocked()
	case plc.KeyRunRequest:
		return s.runRequest
	case plc.KeyRejectRequest:
		return s.rejectCoil
	}
	return false
}

func (s *Sim) wordLocked(r ref) uint16 {
	order := s.cfg.Map.WordOrder
	switch r.item.Key {
	case plc.KeyTriggerCounter:
		return order.Registers(s.count)[r.word]
	case plc.KeyGoodCounter:
		return order.Registers(s.good)[r.word]
	case plc.KeyRejectedCounter:
		return order.Registers(s.rejected)[r.word]
	case plc.KeyRejectTarget:
		return s.target[r.word]
	case plc.KeyStackLight:
		return uint16(s.stack)
	case plc.KeyAlarms:
		return uint16(s.alarmsLocked())
	case plc.KeyEdgeHeartbeat:
		return s.wd.beat
	case plc.KeyPLCHeartbeat:
		return s.plcBeatLocked(time.Now())
	}
	return 0
}

// resolve maps a write's addresses to items the edge may write, or
// returns the exception to answer.
func (s *Sim) resolve(table plc.Table, addr uint16, n int) ([]ref, byte) {
	refs := make([]ref, n)
	for i := range refs {
		r, ok := s.lookup[table][addr+uint16(i)]
		if !ok || !r.item.EdgeWrites {
			return nil, exIllegalDataAddress
		}
		refs[i] = r
	}
	return refs, 0
}

func (s *Sim) writeBits(addr uint16, bits []bool) byte {
	s.mu.Lock()
	events := s.syncLocked()
	defer s.unlockAndDispatch(events)
	refs, ex := s.resolve(plc.Coils, addr, len(bits))
	if ex != 0 {
		return ex
	}
	for i, r := range refs {
		switch r.item.Key {
		case plc.KeyRunRequest:
			if s.runRequest != bits[i] {
				s.log.Info("plc sim run request", "run", bits[i])
			}
			s.runRequest = bits[i]
			s.kick()
		case plc.KeyRejectRequest:
			// The program latches a request as soon as the coil is set and
			// clears the coil: the edge's acknowledgement. A stopped program
			// leaves it set.
			s.rejectCoil = bits[i]
			if s.rejectCoil && !s.faults[FaultProgramStopped] {
				s.rejectCoil = false
				s.latchRejectLocked()
			}
		}
	}
	return 0
}

func (s *Sim) writeRegs(addr uint16, regs []uint16) byte {
	s.mu.Lock()
	events := s.syncLocked()
	defer s.unlockAndDispatch(events)
	refs, ex := s.resolve(plc.HoldingRegisters, addr, len(regs))
	if ex != 0 {
		return ex
	}
	for i, r := range refs {
		if r.item.Key == plc.KeyStackLight && plc.StackLight(regs[i]).Validate() != nil {
			return exIllegalDataValue
		}
	}
	for i, r := range refs {
		switch r.item.Key {
		case plc.KeyRejectTarget:
			s.target[r.word] = regs[i]
		case plc.KeyStackLight:
			s.stack = plc.StackLight(regs[i])
		case plc.KeyAlarms:
			// Writing the alarm word resets the alarms written as 0; those
			// whose cause persists (an active fault, a heartbeat still
			// standing) stay on.
			s.resetAlarmsLocked(plc.AlarmWord(regs[i]), time.Now())
		case plc.KeyEdgeHeartbeat:
			s.edgeBeatLocked(regs[i], time.Now())
		}
	}
	return 0
}
