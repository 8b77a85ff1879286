-- A passenger id names a passenger within one booking only (the event contract says so): two
-- bookings may each hold a passenger "1". Contacts and deliveries are found by both.
--
-- Expand, for a rolling upgrade: the previous release still runs beside this one and names the
-- old unique keys in its ON CONFLICT clauses, so they stay until every replica runs this release;
-- post_deploy/005_contacts_by_booking.sql then makes the new ones the only ones.
CREATE UNIQUE INDEX contacts_by_booking ON contacts (booking_ref, passenger_id);
CREATE UNIQUE INDEX deliveries_once_by_booking
    ON deliveries (booking_ref, passenger_id, disruption_id, stage, revision, channel);
CREATE INDEX deliveries_about_by_booking ON deliveries (booking_ref, passenger_id, stage, about);
