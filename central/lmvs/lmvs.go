// Package lmvs is central's side of GS1's Lightweight Messaging Standard
// for Verification of Product Identifiers (LMVS), as GS1 US's DSCSA
// implementation guideline uses it for saleable returns: a Responder that
// Verification Router Services (VRS) call at the GS1 Digital Link paths
// (/01/{gtin}/10/{lot}/21/{serial}?17=…&linkType=verificationService, and
// the Digital Link 1.0 short form /gtin/…/lot/…/ser/…?exp=…), and a
// Requester that verifies another manufacturer's pack through a router or
// the manufacturer's own responder, for our returns desk.
//
// Every request and its answer, both ways, is kept in the store's
// verification log (the DSCSA record). What the standard says and where
// it was read: docs/verification.md; the answer's JSON Schema:
// docs/schemas/lmvs-response.schema.json.
package lmvs

import (
	"time"
)

// LinkType is the GS1 Web Vocabulary link type of a verification
// service; LinkTypeCURIE and LinkTypeURI are the other ways GS1 Digital
// Link writes it.
const (
	LinkType      = "verificationService"
	LinkTypeCURIE = "gs1:verificationService"
	LinkTypeURI   = "https://gs1.org/voc/verificationService"
)

// ContextSaleableReturn is the context of a DSCSA saleable-return
// verification, the default when a request names none.
const ContextSaleableReturn = "dscsaSaleableReturn"

// Verification failure reasons (data.verificationFailureReason), as GS1
// US's implementation guideline lists them. A GTIN and serial central
// does not know (or never printed) is No_match_GTIN_Serial and nothing
// else is compared; otherwise every mismatch of lot and expiry is named
// at once.
const (
	ReasonGTINSerial          = "No_match_GTIN_Serial"
	ReasonGTINSerialLot       = "No_match_GTIN_Serial_Lot"
	ReasonGTINSerialExpiry    = "No_match_GTIN_Serial_Expiry"
	ReasonGTINSerialLotExpiry = "No_match_GTIN_Serial_Lot_Expiry"
	// ReasonManufacturerPolicy: the identifier matches a pack that is no
	// longer in trade by our records (decommissioned: dispensed,
	// destroyed, a reject; or reported for destruction).
	ReasonManufacturerPolicy = "Manufacturer_policy"
	// ReasonNotForRedistribution: the pack is not to be redistributed
	// (illegitimate, or reported stolen).
	ReasonNotForRedistribution = "Not_for_re-distribution"
	// ReasonNone is the guideline's "no reason provided" (central always
	// gives one; listed for the schema and the requester).
	ReasonNone = "No_reason_provided"
)

// Additional information (data.additionalInfo), as GS1 US's
// implementation guideline lists it. One value: the weightiest that
// applies, in this order.
const (
	InfoIllegitimate = "Illegitimate"
	InfoSuspect      = "Suspect"
	// InfoRecalled: recalled or withdrawn ("The product has been recalled
	// or withdrawn").
	InfoRecalled = "Recalled"
	InfoExpired  = "Expired"
	// InfoExpirationExtended: the FDA extended the expiry; central keeps
	// no extensions, so it never answers this (listed for the schema and
	// the requester).
	InfoExpirationExtended = "ExpirationExtended"
)

// Reasons and Infos list the codes, for validation and documentation.
func Reasons() []string {
	return []string{ReasonGTINSerial, ReasonGTINSerialLot, ReasonGTINSerialExpiry, ReasonGTINSerialLotExpiry,
		ReasonManufacturerPolicy, ReasonNotForRedistribution, ReasonNone}
}

func Infos() []string {
	return []string{InfoIllegitimate, InfoSuspect, InfoRecalled, InfoExpired, InfoExpirationExtended}
}

// Response is the LMVS answer to a verification (Data set) or a
// connectivity check (Data nil).
type Response struct {
	VerificationTimestamp string `json:"verificationTimestamp"`
	ResponderGLN          string `json:"responderGLN"`
	CorrUUID              string `json:"corrUUID,omitempty"`
	Data                  *Data  `json:"data,omitempty"`
}

// Data is the verification's outcome.
type Data struct {
	Verified                  bool   `json:"verified"`
	VerificationFailureReason string `json:"verificationFailureReason,omitempty"`
	AdditionalInfo            string `json:"additionalInfo,omitempty"`
}

// Timestamp writes a verification timestamp: UTC, milliseconds, Z.
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Facts is what the responder knows about the pack a request names.
type Facts struct {
	// Known: central commissioned a pack with this GTIN and serial (not a
	// voided serial, which was never printed).
	Known  bool
	Lot    string
	Expiry string // YYMMDD as printed
	// Decommissioned: no longer a pack in trade by our records
	// (dispensed, destroyed, a line reject) or reported for destruction.
	Decommissioned bool
	// Recalled covers withdrawn packs too.
	Recalled bool
	// Expired: its expiry date has passed (DD 00: the month's end).
	Expired bool
	// Stolen: reported stolen (an EU FMD art. 40 theft).
	Stolen bool
	// Suspect and Illegitimate come from QA's investigations (DSCSA
	// §582(c)(4)): open, or closed finding the product illegitimate.
	Suspect, Illegitimate bool
}

// Decide answers a verification from the facts and what the request
// carried (the lot and expiry only when given).
func Decide(f Facts, lot, expiry string, hasLot, hasExpiry bool) Data {
	if !f.Known {
		return Data{Verified: false, VerificationFailureReason: ReasonGTINSerial}
	}
	d := Data{Verified: true}
	switch {
	case f.Illegitimate:
		d.AdditionalInfo = InfoIllegitimate
	case f.Suspect:
		d.AdditionalInfo = InfoSuspect
	case f.Recalled:
		d.AdditionalInfo = InfoRecalled
	case f.Expired:
		d.AdditionalInfo = InfoExpired
	}
	lotBad, expBad := hasLot && lot != f.Lot, hasExpiry && expiry != f.Expiry
	switch {
	case lotBad && expBad:
		d.Verified, d.VerificationFailureReason = false, ReasonGTINSerialLotExpiry
	case lotBad:
		d.Verified, d.VerificationFailureReason = false, ReasonGTINSerialLot
	case expBad:
		d.Verified, d.VerificationFailureReason = false, ReasonGTINSerialExpiry
	case f.Illegitimate || f.Stolen:
		d.Verified, d.VerificationFailureReason = false, ReasonNotForRedistribution
		d.AdditionalInfo = InfoIllegitimate
	case f.Decommissioned:
		d.Verified, d.VerificationFailureReason = false, ReasonManufacturerPolicy
	}
	return d
}
