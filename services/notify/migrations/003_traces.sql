-- The trace of the notice a delivery is for: its report and its log lines carry it.
ALTER TABLE deliveries ADD COLUMN traceparent text;
