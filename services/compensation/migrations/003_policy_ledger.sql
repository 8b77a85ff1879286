-- The policy engine needs the whole journey: the schedule, each booking's flights and how it was
-- paid, and each disruption's facts as they arrive from disruption and rebooking.
CREATE TABLE flights (
    flight_id           text PRIMARY KEY,
    carrier             text NOT NULL,
    number              text NOT NULL,
    origin              text NOT NULL,
    destination         text NOT NULL,
    scheduled_departure timestamptz NOT NULL,
    scheduled_arrival   timestamptz NOT NULL
);

CREATE TABLE bookings (
    booking_ref text PRIMARY KEY,
    flight_ids  text[] NOT NULL,
    payment     text NOT NULL
);

ALTER TABLE passengers ADD COLUMN special_services text[] NOT NULL DEFAULT '{}';

ALTER TABLE cases
    ADD COLUMN flight_id  text,
    ADD COLUMN legs       jsonb,         -- the disrupted segments, as disruption saw them
    ADD COLUMN noticed_at timestamptz,
    ADD COLUMN segments   jsonb,         -- the booking's new flights, from rebooking
    ADD COLUMN downgraded boolean NOT NULL DEFAULT false,
    ADD COLUMN decided_at timestamptz;

-- The ledger: what each passenger is granted for one disrupted journey, at most one grant of each
-- kind (a delay that grows, or turns into a cancellation, is still one compensation). Amounts in
-- the currency's minor units.
-- The walking skeleton's grants were keyed per flight event, in major units: nothing had been paid
-- out from them, so they are not carried over.
DROP TABLE grants;
CREATE TABLE grants (
    grant_id      uuid PRIMARY KEY,
    booking_ref   text NOT NULL,
    passenger_id  text NOT NULL,
    disruption    text NOT NULL,        -- the journey: booking and its first flight
    kind          text NOT NULL CHECK (kind IN ('compensation', 'refund', 'meal', 'hotel', 'transport', 'credit')),
    regime        text NOT NULL,
    rule          text NOT NULL,
    rule_version  text NOT NULL,
    source        text NOT NULL,
    reason        text NOT NULL,
    amount_minor  bigint NOT NULL CHECK (amount_minor >= 0),
    currency      char(3) NOT NULL,
    due_by        timestamptz,
    code          text UNIQUE,          -- vouchers and credits: what the passenger shows or types
    expires_at    timestamptz,
    evaluated     jsonb NOT NULL,       -- the case it was computed from
    disruption_ids text[] NOT NULL,     -- the events behind that case
    granted_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (booking_ref, passenger_id, disruption, kind)
);

-- Every change to a grant, append-only: the audit trail.
CREATE TABLE grant_changes (
    change_id     uuid PRIMARY KEY,
    grant_id      uuid NOT NULL REFERENCES grants,
    delta_minor   bigint NOT NULL,
    amount_minor  bigint NOT NULL,
    rule          text NOT NULL,
    rule_version  text NOT NULL,
    evaluated     jsonb NOT NULL,
    note          text NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now()
);

-- Money owed to the passenger's original form of payment, one row per increase of a money grant;
-- the id is the provider's idempotency key, so a retry never pays twice.
CREATE TABLE payouts (
    payout_id       uuid PRIMARY KEY,
    grant_id        uuid NOT NULL REFERENCES grants,
    change_id       uuid NOT NULL UNIQUE REFERENCES grant_changes,
    booking_ref     text NOT NULL,
    passenger_id    text NOT NULL,
    kind            text NOT NULL,
    amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
    currency        char(3) NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    provider_id     text,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    paid_at         timestamptz
);
CREATE INDEX payouts_due ON payouts (next_attempt_at) WHERE status = 'pending';

-- Wake the payout worker when a payout is written.
CREATE OR REPLACE FUNCTION payouts_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_payouts', '');
    RETURN NULL;
END $$;
CREATE TRIGGER payouts_notify AFTER INSERT ON payouts FOR EACH STATEMENT EXECUTE FUNCTION payouts_notify();
