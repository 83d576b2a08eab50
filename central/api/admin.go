package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/wire"
)

const maxRows = 10_000

// deadLetterOut is a dead letter; the payload is shown as JSON when it is
// JSON, as text when it is text, else base64.
type deadLetterOut struct {
	ID          int64     `json:"id"`
	ReceivedAt  time.Time `json:"received_at"`
	Topic       string    `json:"topic"`
	Line        string    `json:"line"`
	Incarnation string    `json:"incarnation,omitempty"`
	EventID     string    `json:"event_id,omitempty"`
	Seq         uint64    `json:"seq,omitempty"`
	Reason      string    `json:"reason"`
	// Size is the payload's full size and SHA256 its hash; the payload
	// shown is its first store.MaxDeadLetterPayload bytes when Truncated.
	Size          int64           `json:"size"`
	SHA256        string          `json:"sha256,omitempty"`
	Truncated     bool            `json:"truncated,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	PayloadText   string          `json:"payload_text,omitempty"`
	PayloadBase64 []byte          `json:"payload_base64,omitempty"`
}

func (a *api) listDeadLetters(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var err error
	f := lineevents.DeadLetterFilter{Line: q.Get("line")}
	if f.Line != "" {
		if err := wire.ValidateLine(f.Line); err != nil {
			return badParam("line", "%v", err)
		}
	}
	if f.Since, err = sinceParam(q, "since"); err != nil {
		return err
	}
	if f.Limit, err = limitParam(q, 1000, maxRows); err != nil {
		return err
	}
	dls, err := a.Store.DeadLetters(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]deadLetterOut, 0, len(dls))
	for _, d := range dls {
		o := deadLetterOut{ID: d.ID, ReceivedAt: d.ReceivedAt, Topic: d.Topic, Line: d.Line, Incarnation: d.Incarnation, EventID: d.EventID, Seq: d.Seq,
			Reason: d.Reason, Size: d.Size, SHA256: d.SHA256, Truncated: d.Truncated()}
		switch {
		case json.Valid(d.Payload):
			o.Payload = d.Payload
		case utf8.Valid(d.Payload):
			o.PayloadText = string(d.Payload)
		default:
			o.PayloadBase64 = d.Payload
		}
		out = append(out, o)
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"dead_letters": out})
	return nil
}

// auditEntities are the entities the store audits.
func auditEntities() []string {
	return []string{"product", "site", "location", "line", "partner", "work_order", "serial_grant", "serial_list", "api_token", "line_seq", "event_flag",
		"partner_endpoint", "outbound", "receipt", "dscsa_exception", "investigation"}
}

type auditOut struct {
	ID       int64           `json:"id"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Entity   string          `json:"entity"`
	EntityID string          `json:"entity_id"`
	Before   json.RawMessage `json:"before"`
	After    json.RawMessage `json:"after"`
}

func (a *api) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var err error
	f := audit.Filter{Entity: q.Get("entity"), EntityID: q.Get("entity_id")}
	if f.Entity != "" && !slices.Contains(auditEntities(), f.Entity) {
		return badParam("entity", "%q is not an audited entity; use one of %s", f.Entity, strings.Join(auditEntities(), ", "))
	}
	if f.Since, err = sinceParam(q, "since"); err != nil {
		return err
	}
	if f.Limit, err = limitParam(q, 1000, maxRows); err != nil {
		return err
	}
	entries, err := a.Store.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]auditOut, 0, len(entries))
	for _, e := range entries {
		o := auditOut{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Entity: e.Entity, EntityID: e.EntityID, Before: e.Before, After: e.After}
		if o.Before == nil {
			o.Before = json.RawMessage("null")
		}
		if o.After == nil {
			o.After = json.RawMessage("null")
		}
		out = append(out, o)
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"entries": out})
	return nil
}

func (a *api) listTokens(w http.ResponseWriter, r *http.Request) error {
	toks, err := a.Store.APITokens(r.Context())
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"tokens": orEmpty(toks)})
	return nil
}

type tokenIn struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Partner is the trading partner's GLN a partner token is bound to;
	// required for role partner, refused for any other.
	Partner string `json:"partner"`
}

func (a *api) createToken(w http.ResponseWriter, r *http.Request) error {
	var in tokenIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Name == "" {
		return invalid("name", "missing; name the person or system the token is for")
	}
	role, err := auth.ParseRole(in.Role)
	if err != nil {
		return invalid("role", "%v", err)
	}
	var secret string
	var rec access.APIToken
	switch {
	case role == auth.RolePartner && in.Partner == "":
		return invalid("partner", "missing; a partner token is bound to the trading partner's GLN")
	case role == auth.RolePartner:
		if _, err := gs1.ParseGLN(in.Partner); err != nil {
			return invalid("partner", "%v", err)
		}
		secret, rec, err = auth.IssuePartnerToken(r.Context(), a.Store, in.Name, in.Partner)
	case in.Partner != "":
		return invalid("partner", "only a token of role partner is bound to a partner's GLN, not one of role %s", role)
	default:
		secret, rec, err = auth.IssueToken(r.Context(), a.Store, in.Name, role)
	}
	if err != nil {
		return err
	}
	p, _ := auth.PrincipalFrom(r.Context())
	a.log.Info("api token issued", "id", rec.ID, "name", rec.Name, "role", rec.Role, "partner", rec.Partner, "by", p.Name)
	httpjson.Write(w, http.StatusCreated, struct {
		access.APIToken
		// Token is the secret, shown this once; only its hash is kept.
		Token string `json:"token"`
	}{rec, secret})
	return nil
}

func (a *api) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := a.Store.RevokeAPIToken(r.Context(), id); err != nil {
		return err
	}
	toks, err := a.Store.APITokens(r.Context())
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.ID == id {
			p, _ := auth.PrincipalFrom(r.Context())
			a.log.Info("api token revoked", "id", id, "name", t.Name, "by", p.Name)
			httpjson.Write(w, http.StatusOK, t)
			return nil
		}
	}
	return errorf(http.StatusNotFound, codeNotFound, "id", "api token %s vanished after revocation", id)
}
