-- What-if plans ops saved: the plan, its preview as computed when saved, and, once an agent applied
-- it, when, by whom and the flight events it became (to set the real outcome beside the preview).
CREATE TABLE what_if_plans (
    plan_id     text PRIMARY KEY,
    name        text NOT NULL,
    plan        jsonb NOT NULL,
    preview     jsonb NOT NULL,
    saved_by    text NOT NULL,
    saved_at    timestamptz NOT NULL DEFAULT now(),
    applied_at  timestamptz,
    applied_by  text,
    event_ids   text[] NOT NULL DEFAULT '{}',
    flight_ids  text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX what_if_plans_by_time ON what_if_plans (saved_at DESC);
