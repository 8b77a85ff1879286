-- Flight state as the partners' events leave it, matched by designator and either date.
ALTER TABLE flights
    ADD COLUMN departure_date      date,
    ADD COLUMN estimated_departure timestamptz,
    ADD COLUMN estimated_arrival   timestamptz,
    ADD COLUMN diverted_to         text,
    ADD COLUMN cause               text,
    ADD COLUMN cancelled_by        text,  -- the event that cancelled it
    -- The event that last changed the flight: older ones are history, not news.
    ADD COLUMN as_of               timestamptz,
    ADD COLUMN as_of_source        text,
    ADD COLUMN as_of_sequence      bigint;
UPDATE flights SET departure_date = split_part(flight_id, '/', 2)::date;
ALTER TABLE flights ALTER COLUMN departure_date SET NOT NULL;
ALTER TABLE flight_events DROP CONSTRAINT flight_events_pkey, ADD PRIMARY KEY (event_id, flight_id);
CREATE INDEX flights_by_designator ON flights (carrier, number, departure_date);

-- Each booking's itinerary in order, to find the onward connection; names for the ops board.
CREATE TABLE itineraries (
    booking_ref     text PRIMARY KEY,
    flight_ids      text[] NOT NULL,
    passenger_ids   text[] NOT NULL,
    passenger_names text[] NOT NULL
);

-- A connection found at risk, once per booking and onward flight, however often the delay moves.
CREATE TABLE connections_at_risk (
    booking_ref      text NOT NULL,
    onward_flight_id text NOT NULL,
    disruption_id    text NOT NULL,
    PRIMARY KEY (booking_ref, onward_flight_id)
);

ALTER TABLE disruptions ADD COLUMN severity text NOT NULL DEFAULT 'major',
                        ADD COLUMN cause text;
CREATE INDEX disruptions_by_flight ON disruptions (flight_id);

-- The ops board's view of recovery: one row per disrupted passenger, kept current from the
-- rebookings, entitlements and notice-deliveries topics.
CREATE TABLE recovery (
    disruption_id text NOT NULL,
    passenger_id  text NOT NULL,
    booking_ref   text NOT NULL,
    flight_id     text NOT NULL,
    notified      boolean NOT NULL DEFAULT false,
    unreachable   boolean NOT NULL DEFAULT false,
    outcome       text,          -- rebooked | no_alternative | kept
    outcome_reason text,
    refunded      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (disruption_id, passenger_id)
);
CREATE INDEX recovery_by_flight ON recovery (flight_id);
