-- What ops agents did through this service, created in every service's own schema: one row per
-- action, keyed by the agent's idempotency key, so asking twice does it once and answers alike.

CREATE TABLE IF NOT EXISTS desk_actions (
    action_id text PRIMARY KEY,
    agent     text NOT NULL,
    action    text NOT NULL,
    target    text NOT NULL,         -- the booking, or the flight
    why       text NOT NULL,
    asked     jsonb NOT NULL,        -- the request, to tell a repeat from a different action
    answer    jsonb NOT NULL,        -- what the agent was told, given again on a repeat
    acted_at  timestamptz NOT NULL DEFAULT now()
);
