-- Order governance (issue 11): a product's reject allowance and shelf-life
-- rule, an order's own allowance and the line's extensions of it, the
-- order's unit counts kept with the events, and the count a grant request
-- asked for (a grant may be trimmed to what the order can still need).

-- The allowance of a new order is max(ceil(quantity × percent / 100), min)
-- unless the order sets its own; min_shelf_life_days: an order's expiry must
-- be at least that many days ahead (0: not in the past).
ALTER TABLE products ADD COLUMN reject_allowance_percent INTEGER NOT NULL DEFAULT 5;
ALTER TABLE products ADD COLUMN reject_allowance_min BIGINT NOT NULL DEFAULT 50;
ALTER TABLE products ADD COLUMN min_shelf_life_days INTEGER NOT NULL DEFAULT 0;

-- reject_allowance: the order's allowance in units, fixed when it is created
-- (the product's rule, or the order's own when reject_allowance_set);
-- allowance_extended: the units supervisors at the line added since
-- (allowance-extended events). units_*: the order's units by fate, kept by
-- the applier in the transaction that changes the units (shipped and
-- returned units count as commissioned, as in the reconciliation).
ALTER TABLE work_orders ADD COLUMN reject_allowance BIGINT NOT NULL DEFAULT 0;
ALTER TABLE work_orders ADD COLUMN reject_allowance_set BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE work_orders ADD COLUMN allowance_extended BIGINT NOT NULL DEFAULT 0;
ALTER TABLE work_orders ADD COLUMN units_commissioned BIGINT NOT NULL DEFAULT 0;
ALTER TABLE work_orders ADD COLUMN units_decommissioned BIGINT NOT NULL DEFAULT 0;
ALTER TABLE work_orders ADD COLUMN units_voided BIGINT NOT NULL DEFAULT 0;

-- Orders made before: the default rule (5 %, at least 50 units), and their
-- counts from their units.
UPDATE work_orders SET reject_allowance = CASE WHEN (quantity * 5 + 99) / 100 > 50 THEN (quantity * 5 + 99) / 100 ELSE 50 END;
UPDATE work_orders SET
    units_commissioned = (SELECT COUNT(*) FROM units u WHERE u.order_id = work_orders.id AND u.state IN ('commissioned', 'shipped', 'returned')),
    units_decommissioned = (SELECT COUNT(*) FROM units u WHERE u.order_id = work_orders.id AND u.state = 'decommissioned'),
    units_voided = (SELECT COUNT(*) FROM units u WHERE u.order_id = work_orders.id AND u.state = 'voided');

-- The count the request asked for; count is what was granted (NULL: the
-- same, from before grants were trimmed).
ALTER TABLE grants ADD COLUMN requested BIGINT;
