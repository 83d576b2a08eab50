package api

import (
	"net/http"

	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/httpjson"
)

// salesOrderIn is the body of POST /sales-orders.
type salesOrderIn struct {
	ID          string             `json:"id"`
	CustomerGLN string             `json:"customer_gln"`
	PONumber    string             `json:"po_number"`
	Currency    string             `json:"currency"`
	Lines       []supply.SalesLine `json:"lines"`
}

func (a *api) createSalesOrder(w http.ResponseWriter, r *http.Request) error {
	var in salesOrderIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	o, err := a.Store.CreateSalesOrder(r.Context(), supply.SalesOrder{ID: in.ID, CustomerGLN: in.CustomerGLN, PONumber: in.PONumber,
		Currency: in.Currency, Lines: in.Lines})
	if err != nil {
		return bodyNotFound(err, "customer_gln")
	}
	a.log.Info("sales order created", "order", o.ID, "customer", o.CustomerGLN, "lines", len(o.Lines))
	httpjson.Write(w, http.StatusCreated, o)
	return nil
}

func (a *api) listSalesOrders(w http.ResponseWriter, r *http.Request) error {
	customer := r.URL.Query().Get("customer")
	if customer != "" {
		if _, err := gs1.ParseGLN(customer); err != nil {
			return badParam("customer", "%v", err)
		}
	}
	out, err := a.Store.SalesOrders(r.Context(), customer)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"sales_orders": orEmpty(out)})
	return nil
}

// salesOrderOut is a sales order with its shipments and invoice figures.
type salesOrderOut struct {
	supply.SalesOrder
	Shipments []supply.Shipment `json:"shipments"`
	Invoice   supply.Invoice    `json:"invoice"`
}

func (a *api) getSalesOrder(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	o, err := a.Store.SalesOrder(r.Context(), id)
	if err != nil {
		return err
	}
	shs, err := a.Store.Shipments(r.Context(), id)
	if err != nil {
		return err
	}
	inv, err := a.Store.Invoice(r.Context(), id)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, salesOrderOut{SalesOrder: o, Shipments: orEmpty(shs), Invoice: inv})
	return nil
}

func (a *api) stockReport(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := supply.StockFilter{GTIN: q.Get("gtin"), Lot: q.Get("lot")}
	if f.GTIN != "" {
		if g, err := gs1.ParseGTIN(f.GTIN); err != nil || string(g) != f.GTIN {
			return badParam("gtin", "a GTIN of 14 digits with its check digit, got %q", f.GTIN)
		}
	}
	if f.Lot != "" && f.GTIN == "" {
		return badParam("lot", "a lot needs its gtin")
	}
	rows, err := a.Store.StockReport(r.Context(), f)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"stock": orEmpty(rows)})
	return nil
}

func (a *api) inventoryValue(w http.ResponseWriter, r *http.Request) error {
	v, err := a.Store.InventoryValue(r.Context())
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, v)
	return nil
}
