-- Contact details live here and nowhere else in Rebound.
CREATE TABLE contacts (
    passenger_id text PRIMARY KEY,
    booking_ref  text NOT NULL,
    given_name   text NOT NULL,
    email        text,
    phone        text,
    channels     text[] NOT NULL,
    locale       text NOT NULL DEFAULT 'en',
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per notice per channel: the unique key is what makes "never twice" hold.
CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    passenger_id    text NOT NULL,
    disruption_id   text NOT NULL,
    stage           text NOT NULL,
    channel         text NOT NULL,
    booking_ref     text NOT NULL,
    template        text NOT NULL,
    facts           jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_at      timestamptz,
    provider_id     text,
    detail          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (passenger_id, disruption_id, stage, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retrying', 'sending');

CREATE OR REPLACE FUNCTION deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('notify_deliveries', '');
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_notify AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_notify();
