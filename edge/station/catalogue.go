package station

import (
	"errors"
	"strings"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/drivers/printer"
)

// AlarmCode names an alarm in the catalogue: what the operator reads, what
// to do, and who may acknowledge it. The catalogue is the one place these
// texts live; the touchscreen shows them and docs/operations.md lists them
// (a test keeps the two equal).
type AlarmCode string

// The alarm codes.
const (
	AlarmPrinterOffline    AlarmCode = "printer-offline"
	AlarmPrinterPaperOut   AlarmCode = "printer-paper-out"
	AlarmPrinterRibbonOut  AlarmCode = "printer-ribbon-out"
	AlarmPrinterHeadOpen   AlarmCode = "printer-head-open"
	AlarmPrinterPaused     AlarmCode = "printer-paused"
	AlarmPrinterBufferFull AlarmCode = "printer-buffer-full"
	AlarmPrinterFault      AlarmCode = "printer-fault"
	AlarmScannerOffline    AlarmCode = "scanner-offline"
	AlarmPLCOffline        AlarmCode = "plc-offline"
	AlarmPLCJam            AlarmCode = "plc-jam"
	AlarmPLCEStop          AlarmCode = "plc-estop"
	AlarmPLCRejectBinFull  AlarmCode = "plc-reject-bin-full"
	AlarmPLCLowAir         AlarmCode = "plc-low-air"
	AlarmPLCGuardOpen      AlarmCode = "plc-guard-open"
	AlarmPLCFault          AlarmCode = "plc-fault"
	AlarmPLCEdgeWatchdog   AlarmCode = "plc-edge-watchdog"
	AlarmRejectMissed      AlarmCode = "reject-missed"
	AlarmRejectFailed      AlarmCode = "reject-failed"
	AlarmSerialsWaiting    AlarmCode = "serials-waiting"
	AlarmSerialsEmpty      AlarmCode = "serials-empty"
	AlarmTrackingFull      AlarmCode = "tracking-full"
	AlarmConsecutive       AlarmCode = "consecutive-rejects"
	AlarmRejectRate        AlarmCode = "reject-rate"
	AlarmAllowanceSpent    AlarmCode = "allowance-spent"
	AlarmOrderExpired      AlarmCode = "order-expired"
	AlarmRecordRefused     AlarmCode = "record-refused"
	AlarmStorage           AlarmCode = "storage"
	AlarmStorageLow        AlarmCode = "storage-low"
	AlarmUncleanRestart    AlarmCode = "unclean-restart"
	AlarmStoreReplaced     AlarmCode = "event-store-replaced"
	AlarmStoreRolledBack   AlarmCode = "event-store-rolled-back"
	AlarmPLCHeartbeat      AlarmCode = "plc-heartbeat"
)

// Role is what a signed-in person may do at the line. A higher role may do
// everything a lower one may.
type Role string

// The roles, lowest first.
const (
	RoleOperator   Role = "operator"
	RoleSupervisor Role = "supervisor"
	RoleQA         Role = "qa"
)

func (r Role) rank() int {
	switch r {
	case RoleOperator:
		return 1
	case RoleSupervisor:
		return 2
	case RoleQA:
		return 3
	}
	return 0
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 }

// May reports whether someone of role r may do what needs role need.
func (r Role) May(need Role) bool { return r.rank() >= need.rank() && r.rank() > 0 }

// AlarmSpec is one entry of the catalogue.
type AlarmSpec struct {
	Code AlarmCode `json:"code"`
	// Cause says in plain words what happened; Action what to do.
	Cause  string `json:"cause"`
	Action string `json:"action"`
	// AckRole is who may acknowledge it.
	AckRole Role `json:"ack_role"`
}

// Catalogue returns every alarm the station raises, in a stable order.
func Catalogue() []AlarmSpec {
	return []AlarmSpec{
		{AlarmPrinterOffline, "The label printer does not answer.", "Check the printer's power and cable; the line reconnects by itself. Then acknowledge.", RoleOperator},
		{AlarmPrinterPaperOut, "The label printer is out of labels.", "Load a new label roll and close the print head, then acknowledge.", RoleOperator},
		{AlarmPrinterRibbonOut, "The label printer is out of ribbon.", "Fit a new ribbon and close the print head, then acknowledge.", RoleOperator},
		{AlarmPrinterHeadOpen, "The print head is open.", "Close the print head, then acknowledge.", RoleOperator},
		{AlarmPrinterPaused, "The label printer is paused.", "Press the printer's pause key to resume it, then acknowledge.", RoleOperator},
		{AlarmPrinterBufferFull, "The label printer takes no more labels (buffer full).", "Wait a few seconds; if it stays, power-cycle the printer and call maintenance.", RoleOperator},
		{AlarmPrinterFault, "The label printer reported a fault.", "Read the printer's display and clear the fault; call maintenance if unclear. Then acknowledge.", RoleOperator},
		{AlarmScannerOffline, "The verification camera does not answer.", "Check the camera's power and cable; the line reconnects by itself. Then acknowledge.", RoleOperator},
		{AlarmPLCOffline, "The line controller (PLC) does not answer.", "Check the PLC's power and network cable; call maintenance. Then acknowledge.", RoleOperator},
		{AlarmPLCJam, "The conveyor is jammed.", "Clear the jam and put the packs that fell off aside for QA, then acknowledge.", RoleOperator},
		{AlarmPLCEStop, "An emergency stop is pressed.", "When it is safe, release the emergency stop, then acknowledge.", RoleOperator},
		{AlarmPLCRejectBinFull, "The reject bin is full: no pack can be rejected.", "Empty the reject bin into the marked container, then acknowledge.", RoleOperator},
		{AlarmPLCLowAir, "The compressed air is too low: the reject actuator cannot work.", "Restore the air supply; call maintenance. Then acknowledge.", RoleOperator},
		{AlarmPLCGuardOpen, "A guard door is open.", "Close the guard door, then acknowledge.", RoleOperator},
		{AlarmPLCFault, "The line controller (PLC) reported a fault.", "Read the PLC's panel; call maintenance. Then acknowledge.", RoleOperator},
		{AlarmRejectMissed, "A pack that had to be rejected may have passed the reject station.",
			"Line stopped. Quarantine every pack between the camera and the reject station and those that passed since the alarm; QA checks them and releases the line (QA PIN).", RoleQA},
		{AlarmRejectFailed, "A reject did not reach the PLC: a bad pack was not rejected.",
			"Remove the pack named in the details by hand (count from the camera), put it in the reject bin, then a supervisor acknowledges.", RoleSupervisor},
		{AlarmSerialsWaiting, "Waiting for the order's first serial numbers from central.", "Nothing to do: the line starts when they arrive. If it takes long, check the link to central.", RoleOperator},
		{AlarmSerialsEmpty, "The order has no serial numbers left on this line.", "Wait for central's next grant (the line never invents a serial); check the link to central. If the order is complete or its allowance spent, close it.", RoleOperator},
		{AlarmTrackingFull, "More packs are between printer and camera than the line can track.", "Call maintenance: the line's geometry settings do not match the conveyor. Then acknowledge.", RoleOperator},
		{AlarmConsecutive, "Too many packs in a row were rejected.", "Check that labels are applied, the print is sharp and the camera sees it; fix the cause, then acknowledge.", RoleOperator},
		{AlarmRejectRate, "Too many of the last packs were rejected.", "Check labels, print quality and the camera; fix the cause, then acknowledge.", RoleOperator},
		{AlarmAllowanceSpent, "The order's reject allowance is spent.", "A supervisor may extend the allowance (PIN and reason), or close the order.", RoleOperator},
		{AlarmOrderExpired, "The order's expiry date has passed or is too close for its shelf life.", "Close the order; ask planning for an order with a later expiry.", RoleOperator},
		{AlarmRecordRefused, "A pack's record was refused by the line's own store (a software fault).", "Call maintenance with the details; the pack's serial is voided when the order closes. Then acknowledge.", RoleSupervisor},
		{AlarmStorage, "The line PC cannot save the packs' records (disk full or failing): the line stopped.",
			"Pull the packs named in the details off the conveyor and keep them for QA (their records may be lost). Call maintenance to free or replace the disk; the line saves the waiting records by itself once it can. Then a supervisor acknowledges.", RoleSupervisor},
		{AlarmStorageLow, "The line PC's disk is almost full: the line stopped before records could be lost.",
			"Call maintenance to free disk space on the line PC (see the details for what is left). Then acknowledge.", RoleOperator},
		{AlarmUncleanRestart, "The line software restarted after a crash: serial numbers it had reserved were voided.",
			"Packs printed just before the crash may carry voided serials: the camera rejects them when it sees them; put aside any pack found off the conveyor for QA. Then acknowledge.", RoleOperator},
		{AlarmStoreReplaced, "This line PC started with a new record store: records of the previous one that central had not received are missing.",
			"QA reviews the missing records at central (line sequence) and decides on the packs concerned, then acknowledges here with a QA PIN.", RoleQA},
		{AlarmStoreRolledBack, "The line PC's record store was set back to an older state; its unsent records were kept and are being sent again.",
			"Call maintenance: find out how the store was set back (a restored copy, a disk fault). QA reviews the line sequence at central and acknowledges with a QA PIN.", RoleQA},
		{AlarmPLCHeartbeat, "The line controller (PLC) stopped answering the watchdog: its program may have stopped.",
			"Call maintenance to check the PLC program; the line runs again once the PLC's heartbeat returns and the alarm is acknowledged.", RoleOperator},
		{AlarmPLCEdgeWatchdog, "The line controller (PLC) stopped the line: this line PC stopped answering it for a while.",
			"Acknowledge to run on: the packs that were on the conveyor are rejected. Tell maintenance, who find out why the line PC stopped.", RoleOperator},
	}
}

// spec returns the catalogue entry of code.
func spec(code AlarmCode) AlarmSpec {
	for _, s := range Catalogue() {
		if s.Code == code {
			return s
		}
	}
	return AlarmSpec{Code: code, Cause: string(code), Action: "Call maintenance.", AckRole: RoleOperator}
}

// printerCode classifies a printer error.
func printerCode(err error) AlarmCode {
	switch {
	case errors.Is(err, printer.ErrPaperOut):
		return AlarmPrinterPaperOut
	case errors.Is(err, printer.ErrRibbonOut):
		return AlarmPrinterRibbonOut
	case errors.Is(err, printer.ErrHeadOpen):
		return AlarmPrinterHeadOpen
	case errors.Is(err, printer.ErrPaused):
		return AlarmPrinterPaused
	case errors.Is(err, printer.ErrBufferFull):
		return AlarmPrinterBufferFull
	case notConnected(err):
		return AlarmPrinterOffline
	}
	return AlarmPrinterFault
}

// plcCode classifies a PLC alarm word (the most serious bit first).
func plcCode(a plc.AlarmWord) AlarmCode {
	switch {
	case a&plc.AlarmEStop != 0:
		return AlarmPLCEStop
	case a&plc.AlarmRejectMissed != 0:
		return AlarmRejectMissed
	case a&plc.AlarmEdgeWatchdog != 0:
		return AlarmPLCEdgeWatchdog
	case a&plc.AlarmJam != 0:
		return AlarmPLCJam
	case a&plc.AlarmGuardOpen != 0:
		return AlarmPLCGuardOpen
	case a&plc.AlarmRejectBinFull != 0:
		return AlarmPLCRejectBinFull
	case a&plc.AlarmLowAir != 0:
		return AlarmPLCLowAir
	}
	return AlarmPLCFault
}

// deviceCode classifies a health check's error of device.
func deviceCode(device string, err error) AlarmCode {
	var pa plcAlarmError
	switch {
	case device == "printer":
		return printerCode(err)
	case device == "scanner":
		return AlarmScannerOffline
	case device == "plc" && errors.As(err, &pa):
		return plcCode(pa.word)
	case device == "plc" && errors.Is(err, plc.ErrPLCHeartbeatStopped):
		return AlarmPLCHeartbeat
	case device == "plc":
		return AlarmPLCOffline
	}
	return AlarmCode(device)
}

// plcAlarmError is the PLC's alarm word as a health error.
type plcAlarmError struct{ word plc.AlarmWord }

func (e plcAlarmError) Error() string { return "plc alarm: " + e.word.String() }

func notConnected(err error) bool {
	return err != nil && strings.Contains(err.Error(), "not connected")
}
