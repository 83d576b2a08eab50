-- DSCSA exchange with trading partners (issue 12): partner tokens, the
-- outbound queue, structured addresses, inbound receipts with their
-- exceptions, and QA investigations (quarantine).

-- A partner token is bound to the trading partner's GLN ('' for our own
-- people and systems).
ALTER TABLE api_tokens ADD COLUMN partner_gln TEXT NOT NULL DEFAULT '';
