-- A passenger id names a passenger within one booking only (the event contract says so): two
-- bookings may each hold a passenger "1". Contacts are found by both.
ALTER TABLE contacts DROP CONSTRAINT contacts_pkey;
ALTER TABLE contacts ADD PRIMARY KEY (booking_ref, passenger_id);

-- A notice is delivered once per booking, passenger, disruption, stage, revision and channel: a
-- disruption hurts many bookings, whose passengers' ids may coincide.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_once;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_once
    UNIQUE (booking_ref, passenger_id, disruption_id, stage, revision, channel);
DROP INDEX deliveries_about;
CREATE INDEX deliveries_about ON deliveries (booking_ref, passenger_id, stage, about);
