package api

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/httpjson"
)

// OutboundWaker is told that the outbound queue has a due message (the
// running outbound.Sender is).
type OutboundWaker interface {
	Wake()
}

func (a *api) wake() {
	if a.Outbound != nil {
		a.Outbound.Wake()
	}
}

// endpointIn is the body of PUT /partners/{gln}/endpoints/{kind}. The
// secret and the client key are write-only: left out, the stored ones
// stay (as long as auth does not change).
type endpointIn struct {
	URL        string `json:"url"`
	Auth       string `json:"auth"`
	Username   string `json:"username"`
	Secret     string `json:"secret"`
	ClientCert string `json:"client_cert"`
	ClientKey  string `json:"client_key"`
	CACert     string `json:"ca_cert"`
}

func (a *api) putPartnerEndpoint(w http.ResponseWriter, r *http.Request) error {
	gln, err := glnParam(r)
	if err != nil {
		return err
	}
	var in endpointIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	kind := r.PathValue("kind")
	if !slices.Contains(master.EndpointKinds(), kind) {
		return badParam("kind", "%q is not an endpoint kind; use %s", kind, strings.Join(master.EndpointKinds(), ", "))
	}
	if in.URL == "" {
		if err := a.Store.DeletePartnerEndpoint(r.Context(), gln, kind); err != nil {
			return err
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"gln": gln, "kind": kind, "deleted": true})
		return nil
	}
	// An address central would refuse to connect to is refused here
	// already; a name is checked whenever it is dialled.
	if err := a.OutboundPolicy.CheckURL(in.URL); err != nil {
		return invalid("url", "%v", err)
	}
	ep, err := a.Store.PutPartnerEndpoint(r.Context(), master.PartnerEndpoint{GLN: gln, Kind: kind, URL: in.URL, Auth: in.Auth,
		Username: in.Username, Secret: in.Secret, ClientCert: in.ClientCert, ClientKey: in.ClientKey, CACert: in.CACert})
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, ep)
	return nil
}

func (a *api) getPartnerEndpoint(w http.ResponseWriter, r *http.Request) error {
	gln, err := glnParam(r)
	if err != nil {
		return err
	}
	ep, err := a.Store.PartnerEndpoint(r.Context(), gln, r.PathValue("kind"))
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, ep)
	return nil
}

// sendDSCSA queues the shipment's DSCSA document for its customer; the
// outbound sender delivers it (202: see GET /shipments/{id}/outbound).
func (a *api) sendDSCSA(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	sh, err := a.Store.Shipment(r.Context(), id)
	if err != nil {
		return err
	}
	if sh.State != supply.ShipmentShipped {
		return errorf(http.StatusConflict, codeState, "", "shipment %s is %s: its DSCSA document describes a shipment that has left; confirm it first", id, sh.State)
	}
	if _, err := a.Store.PartnerEndpoint(r.Context(), sh.DestGLN, master.EndpointDSCSA); errors.Is(err, sqldb.ErrNotFound) {
		return errorf(http.StatusConflict, codeState, "", "partner %s has no %s endpoint: set one with PUT /api/v1/partners/%s/endpoints/%s",
			sh.DestGLN, master.EndpointDSCSA, sh.DestGLN, master.EndpointDSCSA)
	} else if err != nil {
		return err
	}
	m, err := a.Store.EnqueueOutbound(r.Context(), master.EndpointDSCSA, id, sh.DestGLN)
	if err != nil {
		return err
	}
	a.wake()
	a.log.Info("DSCSA document queued", "shipment", id, "partner", sh.DestGLN, "message", m.ID)
	httpjson.Write(w, http.StatusAccepted, m)
	return nil
}

func (a *api) shipmentOutbound(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := a.Store.Shipment(r.Context(), id); err != nil {
		return err
	}
	ms, err := a.Store.OutboundMessages(r.Context(), messages.OutboundFilter{Ref: id})
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"shipment": id, "messages": ms})
	return nil
}

func (a *api) listOutbound(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := messages.OutboundFilter{Kind: q.Get("kind"), Ref: q.Get("ref"), Partner: q.Get("partner"), State: q.Get("state")}
	switch f.State {
	case "", messages.OutboundPending, messages.OutboundSending, messages.OutboundDelivered, messages.OutboundFailed:
	default:
		return badParam("state", "%q is not a state; use pending, sending, delivered or failed", f.State)
	}
	var err error
	if f.Limit, err = limitParam(q, 100, 1000); err != nil {
		return err
	}
	ms, err := a.Store.OutboundMessages(r.Context(), f)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"messages": ms})
	return nil
}

func outboundID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badParam("id", "%q is not a message id (a positive number)", r.PathValue("id"))
	}
	return id, nil
}

func (a *api) getOutbound(w http.ResponseWriter, r *http.Request) error {
	id, err := outboundID(r)
	if err != nil {
		return err
	}
	m, err := a.Store.OutboundMessage(r.Context(), id)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, m)
	return nil
}

func (a *api) outboundDocument(w http.ResponseWriter, r *http.Request) error {
	id, err := outboundID(r)
	if err != nil {
		return err
	}
	doc, ctype, err := a.Store.OutboundDocument(r.Context(), id)
	if err != nil {
		return err
	}
	writeDoc(w, ctype, "outbound-"+strconv.FormatInt(id, 10)+".xml", doc)
	return nil
}

func (a *api) resendOutbound(w http.ResponseWriter, r *http.Request) error {
	id, err := outboundID(r)
	if err != nil {
		return err
	}
	m, err := a.Store.ResendOutbound(r.Context(), id)
	if err != nil {
		return err
	}
	a.wake()
	a.log.Info("outbound message resent", "message", id, "kind", m.Kind, "ref", m.Ref, "partner", m.Partner)
	httpjson.Write(w, http.StatusAccepted, m)
	return nil
}
