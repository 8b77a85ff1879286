-- A booking's manifest rows are found by booking when it changes or is rebooked: without this,
-- each booking message scanned the whole manifest.
CREATE INDEX manifest_by_booking ON manifest (booking_ref);
