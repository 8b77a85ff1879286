CREATE TABLE flights (
    flight_id           text PRIMARY KEY,
    carrier             text NOT NULL,
    number              text NOT NULL,
    origin              text NOT NULL,
    destination         text NOT NULL,
    scheduled_departure timestamptz NOT NULL,
    scheduled_arrival   timestamptz NOT NULL,
    status              text NOT NULL DEFAULT 'scheduled',
    -- The delay passengers were last told about; a smaller slip than that tells nobody again.
    notified_delay_minutes integer NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Which bookings hold a seat on which flight: the manifest, from the `bookings` topic.
CREATE TABLE manifest (
    flight_id     text NOT NULL,
    booking_ref   text NOT NULL,
    passenger_ids text[] NOT NULL,
    PRIMARY KEY (flight_id, booking_ref)
);

-- Every accepted flight event, matched or not: the flight's history.
CREATE TABLE flight_events (
    event_id    text PRIMARY KEY,
    flight_id   text NOT NULL,
    type        text NOT NULL,
    source      text NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload     jsonb NOT NULL,
    effect      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flight_events_by_flight ON flight_events (flight_id, occurred_at);

-- One row per booking hurt by a flight event.
CREATE TABLE disruptions (
    disruption_id text NOT NULL,
    booking_ref   text NOT NULL,
    flight_id     text NOT NULL,
    kind          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (disruption_id, booking_ref)
);
