package web

import "github.com/serialine/serialine/central/auth"

// describe says what a permission lets one do, for a refusal.
func describe(p auth.Permission) string {
	switch p {
	case auth.PermMasterWrite:
		return "create or change products"
	case auth.PermSerialsImport:
		return "import serial lists"
	case auth.PermOrdersCreate:
		return "create work orders"
	case auth.PermOrdersRelease:
		return "release work orders"
	case auth.PermOrdersClose:
		return "close work orders"
	case auth.PermDeadLettersRead:
		return "read dead letters"
	case auth.PermAuditRead:
		return "read the audit trail"
	case auth.PermFlagsDisposition:
		return "record QA dispositions of flagged events"
	case auth.PermSalesWrite:
		return "send documents to partners"
	}
	return "do this (" + string(p) + ")"
}

// perms is what a page may offer its user; the matrix is central/auth's.
type perms struct {
	WriteProducts, ImportSerials, CreateOrders, ReleaseOrders, CloseOrders, ReadDeadLetters, ReadAudit, DisposeFlags bool
	// SendDocuments: resend a partner's document (sales:write).
	SendDocuments bool
}

func permsOf(p auth.Principal) perms {
	return perms{
		WriteProducts:   p.Can(auth.PermMasterWrite),
		ImportSerials:   p.Can(auth.PermSerialsImport),
		CreateOrders:    p.Can(auth.PermOrdersCreate),
		ReleaseOrders:   p.Can(auth.PermOrdersRelease),
		CloseOrders:     p.Can(auth.PermOrdersClose),
		ReadDeadLetters: p.Can(auth.PermDeadLettersRead),
		ReadAudit:       p.Can(auth.PermAuditRead),
		DisposeFlags:    p.Can(auth.PermFlagsDisposition),
		SendDocuments:   p.Can(auth.PermSalesWrite),
	}
}
