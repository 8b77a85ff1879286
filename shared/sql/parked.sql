-- What could be neither handled nor dead-lettered (a consumed record), or that the broker refused
-- to take (an outbox row): set aside with its reason so that nothing behind it waits, created in
-- every service's own schema. Ops read it at GET /v1/parked and may put a row back in the outbox
-- once its cause is fixed. Bytes stay bytes: a parked row can always be written.

CREATE TABLE IF NOT EXISTS parked (
    id        bigserial PRIMARY KEY,
    stage     text NOT NULL CHECK (stage IN ('consumer', 'relay')),
    topic     text NOT NULL,          -- where it came from (consumer) or was going (relay)
    origin    text,                   -- topic/partition/offset of a consumed record
    key       bytea,
    value     bytea NOT NULL,
    headers   jsonb NOT NULL DEFAULT '[]',
    reason    text NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now()
);

-- A consumed record is parked once, however often it is read again before its offset commits.
CREATE UNIQUE INDEX IF NOT EXISTS parked_origin ON parked (origin) WHERE origin IS NOT NULL;
