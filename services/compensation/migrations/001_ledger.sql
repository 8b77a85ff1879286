CREATE TABLE passengers (
    booking_ref  text NOT NULL,
    passenger_id text NOT NULL,
    fare         numeric(12, 2) NOT NULL,
    currency     text NOT NULL,
    PRIMARY KEY (booking_ref, passenger_id)
);

-- What we know of one booking's disruption; evaluated once both halves are in.
CREATE TABLE cases (
    disruption_id  text NOT NULL,
    booking_ref    text NOT NULL,
    passenger_ids  text[] NOT NULL,
    kind           text,
    reason         text,
    delay_minutes  integer,
    outcome        text,
    arrival_delay_minutes integer,
    PRIMARY KEY (disruption_id, booking_ref)
);

-- The ledger: each rule grants each passenger at most once per disruption.
CREATE TABLE grants (
    booking_ref   text NOT NULL,
    passenger_id  text NOT NULL,
    disruption_id text NOT NULL,
    rule          text NOT NULL,
    kind          text NOT NULL,
    amount        numeric(12, 2) NOT NULL CHECK (amount >= 0),
    currency      text NOT NULL,
    source        text NOT NULL,
    granted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (booking_ref, passenger_id, disruption_id, rule)
);
