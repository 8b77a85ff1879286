-- Seats per cabin; each passenger's seat on each flight; disruptions waiting to be assigned
-- together; each rebooking's answer from the passenger, with its audit trail.

CREATE TABLE cabins (
    flight_id text NOT NULL REFERENCES flights ON DELETE CASCADE,
    cabin     text NOT NULL,
    capacity  integer NOT NULL CHECK (capacity >= 0),
    sold      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (flight_id, cabin),
    -- The last line of defence: no cabin ever has more seats sold than it has.
    CONSTRAINT never_oversold CHECK (sold BETWEEN 0 AND capacity)
);
INSERT INTO cabins (flight_id, cabin, capacity, sold)
    SELECT flight_id, 'economy', capacity, seats_sold FROM flights;
ALTER TABLE flights DROP COLUMN capacity, DROP COLUMN seats_sold;
CREATE INDEX flights_by_departure ON flights (scheduled_departure) WHERE status = 'scheduled';

ALTER TABLE bookings
    ADD COLUMN cabin            text NOT NULL DEFAULT 'economy',
    ADD COLUMN tier             text NOT NULL DEFAULT 'none',
    ADD COLUMN special_services text[] NOT NULL DEFAULT '{}',
    ADD COLUMN booked_at        timestamptz,
    ADD COLUMN may_split        boolean NOT NULL DEFAULT false;

CREATE TABLE seats (
    booking_ref  text NOT NULL,
    passenger_id text NOT NULL,
    flight_id    text NOT NULL,
    cabin        text NOT NULL,
    PRIMARY KEY (booking_ref, passenger_id, flight_id)
);
CREATE INDEX seats_by_flight ON seats (flight_id, cabin);
INSERT INTO seats (booking_ref, passenger_id, flight_id, cabin)
    SELECT booking_ref, p, f, 'economy' FROM bookings, unnest(passenger_ids) p, unnest(flight_ids) f;
DROP INDEX bookings_by_flight;
ALTER TABLE bookings DROP COLUMN flight_ids;

CREATE TABLE pending (
    disruption_id text NOT NULL,
    booking_ref   text NOT NULL,
    disruption    jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (disruption_id, booking_ref)
);

ALTER TABLE rebookings
    ADD COLUMN passenger_ids  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN to_flights     text[] NOT NULL DEFAULT '{}',
    ADD COLUMN cabin          text,
    ADD COLUMN downgraded     boolean NOT NULL DEFAULT false,
    ADD COLUMN arrival_delay_minutes integer,
    ADD COLUMN decided        jsonb,
    ADD COLUMN respond_by     timestamptz,
    ADD COLUMN answer         text,
    ADD COLUMN answered_at    timestamptz;
UPDATE rebookings SET to_flights = ARRAY[to_flight] WHERE to_flight IS NOT NULL;
ALTER TABLE rebookings DROP COLUMN to_flight;
CREATE INDEX rebookings_awaiting_answer ON rebookings (respond_by)
    WHERE outcome = 'rebooked' AND answer IS NULL;

CREATE TABLE choices (
    id            bigserial PRIMARY KEY,
    disruption_id text NOT NULL,
    booking_ref   text NOT NULL,
    answer        text NOT NULL,
    to_flights    text[] NOT NULL DEFAULT '{}',
    client        text,
    made_at       timestamptz NOT NULL DEFAULT now()
);

-- The trip a rebooking replaced (origin, destination, times, cabin): the choice page's other
-- options are alternatives for the same trip.
ALTER TABLE rebookings ADD COLUMN trip jsonb;
