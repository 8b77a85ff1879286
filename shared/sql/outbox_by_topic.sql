-- The relay sends the first-notice path's rows first (shared/outbox.py): found by topic, in order,
-- without walking a storm's thousands of other rows.
CREATE INDEX IF NOT EXISTS outbox_by_topic ON outbox (topic, id);
