// Package auth authenticates callers of central's HTTP API and web UI and
// decides what each may do.
//
// A caller presents a bearer token (API) or a session cookie carrying one
// (web UI). Tokens are 256-bit random secrets, shown once when issued and
// stored only as their SHA-256 hash; each names a person or system and one
// Role. Middleware turns a valid token into a Principal in the request
// context, and attributes every store write to it (sqldb.WithActor), so
// the audit trail says who did what. Allow and Require guard each route
// with the permission matrix below; failures are JSON errors
// ({"error": {"code", "message", "field"}}): 401 without or with a wrong
// token, 403 for a role that may not.
package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a token's holder is in the organisation; it decides the
// permissions (see Can).
type Role string

// The roles.
const (
	// RoleAdmin runs the system: everything, including tokens and line
	// credentials, but QA's dispositions and a partner's verification
	// requests.
	RoleAdmin Role = "admin"
	// RolePlanner keeps master data, plans work orders, releases and closes
	// them, and imports serial lists.
	RolePlanner Role = "planner"
	// RoleQA reads everything operational, investigates dead letters and
	// may stop (close) a work order.
	RoleQA Role = "qa"
	// RoleOperator reads orders, lines and units: the line-side view.
	RoleOperator Role = "operator"
	// RoleAuditor reads everything, the audit trail included, and changes
	// nothing.
	RoleAuditor Role = "auditor"
	// RolePartner is a trading partner's system, not one of our people:
	// its token is bound to the partner's GLN (Principal.Partner), and it
	// may only call the partner routes (its inbound documents and their
	// receipts, its own identity), always for that GLN.
	RolePartner Role = "partner"
)

// Roles lists the roles of our own people and systems, most privileged
// first. The partner role is not among them (see AllRoles): a route open
// to "every role" stays closed to partners.
func Roles() []Role {
	return []Role{RoleAdmin, RolePlanner, RoleQA, RoleOperator, RoleAuditor}
}

// AllRoles is Roles and the partner role.
func AllRoles() []Role { return append(Roles(), RolePartner) }

// Valid reports whether r is one of AllRoles.
func (r Role) Valid() bool { return slices.Contains(AllRoles(), r) }

// ParseRole returns the role named s, or an error listing the roles.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("%q is not a role; use one of %s", s, joinRoles(AllRoles()))
	}
	return r, nil
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// Permission is one thing a caller may be allowed to do.
type Permission string

// The permissions. The matrix (which role holds which) is
// Permission.Roles, documented in README.md.
const (
	// PermMasterRead: read products, sites, locations, lines, partners.
	PermMasterRead Permission = "master:read"
	// PermMasterWrite: create and update products (serial scheme included),
	// sites, locations and trading partners.
	PermMasterWrite Permission = "master:write"
	// PermLinesWrite: create and update packaging lines and their MQTT
	// credentials.
	PermLinesWrite Permission = "lines:write"
	// PermOrdersRead: read work orders with their reconciliation.
	PermOrdersRead Permission = "orders:read"
	// PermOrdersCreate: create work orders.
	PermOrdersCreate Permission = "orders:create"
	// PermOrdersRelease: release a work order to a line.
	PermOrdersRelease Permission = "orders:release"
	// PermOrdersClose: close a released work order from central.
	PermOrdersClose Permission = "orders:close"
	// PermSerialsRead: read serial pool usage and guess probabilities.
	PermSerialsRead Permission = "serials:read"
	// PermSerialsImport: import a marketing-authorisation holder's serial
	// list.
	PermSerialsImport Permission = "serials:import"
	// PermUnitsRead: look units and containers up, with their history.
	PermUnitsRead Permission = "units:read"
	// PermDeadLettersRead: read the payloads central could not apply.
	PermDeadLettersRead Permission = "dead-letters:read"
	// PermAuditRead: read the audit trail (21 CFR Part 11 §11.10(e)).
	PermAuditRead Permission = "audit:read"
	// PermTokensManage: issue, list and revoke API tokens.
	PermTokensManage Permission = "tokens:manage"
	// PermSalesWrite: create sales orders, pick and confirm shipments,
	// receive returns, send DSCSA documents to partners.
	PermSalesWrite Permission = "sales:write"
	// PermQualityWrite: recall a lot or a list of serials (holds the units
	// still in stock), verify a returned unit and restock it.
	PermQualityWrite Permission = "quality:write"
	// PermFlagsDisposition: record QA's disposition of an event flagged for
	// QA (e.g. made after its order was closed), or of a closed order's
	// serials whose fate central never learnt. QA only, not even admin:
	// the disposition is a quality decision.
	PermFlagsDisposition Permission = "flags:disposition"
	// PermSelf: see one's own identity and permissions (every role,
	// partners included).
	PermSelf Permission = "self"
	// PermDSCSAInbound: send a DSCSA EPCIS document to central (a partner,
	// for its own GLN; an admin, for a known partner's document received
	// another way).
	PermDSCSAInbound Permission = "dscsa:inbound"
	// PermReceiptsRead: read inbound receipts with their exceptions (a
	// partner: only its own).
	PermReceiptsRead Permission = "receipts:read"
	// PermTraceRead: answer a tracing request: the TI, TH and TS of every
	// transaction of a product.
	PermTraceRead Permission = "trace:read"
	// PermVerification: ask central to verify a product identifier over
	// GS1's Lightweight Messaging Standard (the LMVS responder at the GS1
	// Digital Link paths): a trading partner, for its own GLN (reqGLN).
	PermVerification Permission = "verification"
)

// Permissions lists every permission in the order of the matrix.
func Permissions() []Permission {
	return []Permission{PermMasterRead, PermMasterWrite, PermLinesWrite, PermOrdersRead, PermOrdersCreate,
		PermOrdersRelease, PermOrdersClose, PermSerialsRead, PermSerialsImport, PermUnitsRead,
		PermDeadLettersRead, PermAuditRead, PermTokensManage, PermSalesWrite, PermQualityWrite, PermFlagsDisposition, PermSelf,
		PermDSCSAInbound, PermReceiptsRead, PermTraceRead, PermVerification}
}

// Roles returns the roles that hold p, most privileged first; none for an
// unknown permission. This switch is the permission matrix.
func (perm Permission) Roles() []Role {
	const (
		a = RoleAdmin
		p = RolePlanner
		q = RoleQA
		o = RoleOperator
		u = RoleAuditor
		x = RolePartner
	)
	switch perm {
	case PermSelf:
		return []Role{a, p, q, o, u, x}
	case PermMasterRead, PermOrdersRead, PermSerialsRead, PermUnitsRead:
		return []Role{a, p, q, o, u}
	case PermDSCSAInbound:
		return []Role{a, x}
	case PermVerification:
		return []Role{x}
	case PermReceiptsRead:
		return []Role{a, p, q, u, x}
	case PermTraceRead:
		return []Role{a, p, q, u}
	case PermMasterWrite, PermOrdersCreate, PermOrdersRelease, PermSerialsImport, PermSalesWrite:
		return []Role{a, p}
	case PermOrdersClose:
		return []Role{a, p, q}
	case PermDeadLettersRead:
		return []Role{a, q, u}
	case PermQualityWrite:
		return []Role{a, q}
	case PermFlagsDisposition:
		return []Role{q}
	case PermAuditRead:
		return []Role{a, u}
	case PermLinesWrite, PermTokensManage:
		return []Role{a}
	}
	return nil
}

// Can reports whether role r holds permission p.
func Can(r Role, p Permission) bool { return slices.Contains(p.Roles(), r) }

// PermissionsOf lists the permissions role r holds.
func PermissionsOf(r Role) []Permission {
	var out []Permission
	for _, p := range Permissions() {
		if Can(r, p) {
			out = append(out, p)
		}
	}
	return out
}
