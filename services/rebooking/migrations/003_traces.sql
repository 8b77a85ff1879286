-- The partner's trace, carried from the disruption to the decision made for it later, and on to
-- the passenger's answer.
ALTER TABLE pending ADD COLUMN traceparent text;
ALTER TABLE rebookings ADD COLUMN traceparent text;
