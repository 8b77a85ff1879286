-- The partner's trace, carried from the disruption to the decision made for it later.
ALTER TABLE pending ADD COLUMN traceparent text;
