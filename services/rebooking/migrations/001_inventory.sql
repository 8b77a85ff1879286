CREATE TABLE flights (
    flight_id           text PRIMARY KEY,
    carrier             text NOT NULL,
    number              text NOT NULL,
    origin              text NOT NULL,
    destination         text NOT NULL,
    scheduled_departure timestamptz NOT NULL,
    scheduled_arrival   timestamptz NOT NULL,
    capacity            integer NOT NULL CHECK (capacity > 0),
    seats_sold          integer NOT NULL DEFAULT 0,
    status              text NOT NULL DEFAULT 'scheduled',
    -- The last line of defence: no flight ever has more seats sold than it has.
    CONSTRAINT never_oversold CHECK (seats_sold BETWEEN 0 AND capacity)
);
CREATE INDEX flights_by_route ON flights (origin, destination, scheduled_departure);

CREATE TABLE bookings (
    booking_ref   text PRIMARY KEY,
    passenger_ids text[] NOT NULL,
    flight_ids    text[] NOT NULL
);
CREATE INDEX bookings_by_flight ON bookings USING gin (flight_ids);

CREATE TABLE rebookings (
    disruption_id text NOT NULL,
    booking_ref   text NOT NULL,
    outcome       text NOT NULL,
    from_flight   text NOT NULL,
    to_flight     text,
    seats         integer NOT NULL,
    reason        text NOT NULL,
    decided_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (disruption_id, booking_ref)
);
