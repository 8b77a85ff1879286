-- The ops console: when each passenger's recovery began, heard from us and was decided (the
-- KPIs and the timeline); an agent marking a case handled; and money owed and paid.
ALTER TABLE recovery
    ADD COLUMN accepted_at timestamptz,  -- when Rebound accepted the flight event
    ADD COLUMN told_at     timestamptz,  -- when a first notice was first handed to a provider
    ADD COLUMN decided_at  timestamptz,  -- when the first outcome came
    ADD COLUMN handled_at  timestamptz,
    ADD COLUMN handled_by  text;
UPDATE recovery SET accepted_at = disrupted_at;
CREATE INDEX recovery_by_booking ON recovery (booking_ref);

-- Each money grant (what it added) and each payout's end, for the totals by currency.
CREATE TABLE money (
    booking_ref  text NOT NULL,
    passenger_id text NOT NULL,
    kind         text NOT NULL,     -- compensation | refund
    currency     char(3) NOT NULL,
    amount       numeric(12, 2) NOT NULL,
    state        text NOT NULL CHECK (state IN ('owed', 'paid', 'failed')),
    at           timestamptz NOT NULL
);

-- Every agent's action, as the service that did it audited it.
CREATE TABLE desk_log (
    action_id     text PRIMARY KEY,
    agent         text NOT NULL,
    action        text NOT NULL,
    why           text NOT NULL,
    acted_at      timestamptz NOT NULL,
    booking_ref   text,
    disruption_id text,
    flight_id     text,
    passenger_ids text[] NOT NULL,
    detail        jsonb NOT NULL,
    source        text NOT NULL
);
CREATE INDEX desk_log_by_booking ON desk_log (booking_ref);
CREATE INDEX desk_log_by_flight ON desk_log (flight_id);
