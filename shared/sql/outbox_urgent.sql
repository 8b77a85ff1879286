-- The relay sends the first-notice path's rows first (shared/outbox.py): marked by their writer,
-- found along an index of their own without walking a storm's thousands of other rows. A row a
-- previous release wrote is not marked, and goes in plain id order, as it always did.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS urgent boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS outbox_urgent ON outbox (id) WHERE urgent;
