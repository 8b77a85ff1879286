-- When each passenger's recovery began: how long a passenger has waited for an outcome.
ALTER TABLE recovery ADD COLUMN disrupted_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX recovery_awaiting_outcome ON recovery (disrupted_at) WHERE outcome IS NULL;
