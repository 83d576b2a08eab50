-- Supply chain: sales orders, shipments, returns, recalls (commerce.go,
-- shipping.go, recall.go). Units keep their fate in units.state; shipping
-- moves it to 'shipped', a return to 'returned', a verified return back
-- to 'commissioned'. Money is in minor units of the order's currency.

-- A partner's endpoints, by kind ('dscsa': where DSCSA EPCIS documents
-- are POSTed).
CREATE TABLE partner_endpoints (
    gln        TEXT NOT NULL REFERENCES trading_partners (gln),
    kind       TEXT NOT NULL,
    url        TEXT NOT NULL,
    updated_at {{ts}} NOT NULL,
    PRIMARY KEY (gln, kind)
);

CREATE TABLE sales_orders (
    id           TEXT PRIMARY KEY,
    customer_gln TEXT NOT NULL REFERENCES trading_partners (gln),
    po_number    TEXT NOT NULL DEFAULT '',          -- the customer's purchase order
    currency     TEXT NOT NULL,
    state        TEXT NOT NULL,                     -- open | shipped
    created_at   {{ts}} NOT NULL,
    updated_at   {{ts}} NOT NULL
);
CREATE INDEX sales_orders_customer ON sales_orders (customer_gln, created_at);

CREATE TABLE sales_order_lines (
    order_id   TEXT NOT NULL REFERENCES sales_orders (id),
    line_no    INTEGER NOT NULL,
    gtin       TEXT NOT NULL REFERENCES products (gtin),
    quantity   BIGINT NOT NULL,
    unit_price BIGINT NOT NULL,                     -- minor units
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE shipments (
    id             TEXT PRIMARY KEY,
    sales_order_id TEXT NOT NULL REFERENCES sales_orders (id),
    source_gln     TEXT NOT NULL,                   -- ship-from SGLN: GLN + extension
    source_ext     TEXT NOT NULL,
    dest_gln       TEXT NOT NULL,                   -- ship-to: the customer's GLN
    state          TEXT NOT NULL,                   -- picking | shipped
    created_at     {{ts}} NOT NULL,
    shipped_at     {{ts}},
    updated_at     {{ts}} NOT NULL
);
CREATE INDEX shipments_order ON shipments (sales_order_id);

-- What was scanned at picking: an SSCC (with everything beneath it) or a
-- loose unit (sscc '').
CREATE TABLE shipment_picks (
    shipment_id TEXT NOT NULL REFERENCES shipments (id),
    sscc        TEXT NOT NULL DEFAULT '',
    gtin        TEXT NOT NULL DEFAULT '',
    serial      TEXT NOT NULL DEFAULT '',
    picked_at   {{ts}} NOT NULL,
    PRIMARY KEY (shipment_id, sscc, gtin, serial)
);

-- Every unit in a shipment (the picks resolved down the hierarchy).
CREATE TABLE shipment_units (
    shipment_id TEXT NOT NULL REFERENCES shipments (id),
    gtin        TEXT NOT NULL,
    serial      TEXT NOT NULL,
    PRIMARY KEY (gtin, serial, shipment_id)
);
CREATE INDEX shipment_units_shipment ON shipment_units (shipment_id);

-- What each confirmed shipment took of each lot, and on which pallets
-- (the outermost container of its units), written at confirmation: a
-- recall finds the customers of a lot without touching its units.
CREATE TABLE shipment_lots (
    shipment_id TEXT NOT NULL REFERENCES shipments (id),
    gtin        TEXT NOT NULL,
    lot         TEXT NOT NULL,
    units       BIGINT NOT NULL,
    PRIMARY KEY (gtin, lot, shipment_id)
);

CREATE TABLE shipment_lot_pallets (
    shipment_id TEXT NOT NULL REFERENCES shipments (id),
    gtin        TEXT NOT NULL,
    lot         TEXT NOT NULL,
    pallet      TEXT NOT NULL,
    PRIMARY KEY (gtin, lot, shipment_id, pallet)
);

-- A shipped unit that came back; verified before it may be restocked.
CREATE TABLE unit_returns (
    id           {{id}},
    gtin         TEXT NOT NULL,
    serial       TEXT NOT NULL,
    shipment_id  TEXT NOT NULL DEFAULT '',
    from_gln     TEXT NOT NULL DEFAULT '',          -- the customer it came from
    site_gln     TEXT NOT NULL DEFAULT '',          -- where it was received
    received_at  {{ts}} NOT NULL,
    verified_at  {{ts}},
    outcome      TEXT NOT NULL DEFAULT '',          -- '' pending | verified | refused
    reason       TEXT NOT NULL DEFAULT '',          -- why refused
    restocked_at {{ts}}
);
CREATE INDEX unit_returns_unit ON unit_returns (gtin, serial, id);

-- A recall covers a lot (every unit of gtin + lot, found by its order,
-- now and later) or a list of serials (recall_units).
CREATE TABLE recalls (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,                       -- lot | serials
    gtin       TEXT NOT NULL,
    lot        TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL,
    state      TEXT NOT NULL,                       -- open
    summary    {{json}} NOT NULL,                   -- counts at the recall
    created_at {{ts}} NOT NULL
);
CREATE INDEX recalls_lot ON recalls (gtin, lot);

CREATE TABLE recall_units (
    recall_id TEXT NOT NULL REFERENCES recalls (id),
    gtin      TEXT NOT NULL,
    serial    TEXT NOT NULL,
    PRIMARY KEY (gtin, serial, recall_id)
);
CREATE INDEX recall_units_recall ON recall_units (recall_id);
