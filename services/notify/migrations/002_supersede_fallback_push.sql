-- Preferences: channels in the order the passenger prefers them (now also `push`, to the
-- airline's app), and channels they refused, which are never used, not even as a fallback.
ALTER TABLE contacts ADD COLUMN opted_out text[] NOT NULL DEFAULT '{}';

-- A notice is about something (a flight, a journey): a newer one of the same stage about the same
-- thing replaces one not yet sent. A revision lets a later notice of the same stage and disruption
-- be sent too (more was granted). A fallback delivery names the one it stands in for.
ALTER TABLE deliveries
    ADD COLUMN about              text,
    ADD COLUMN revision           integer NOT NULL DEFAULT 0,
    ADD COLUMN fallback_of        bigint REFERENCES deliveries,
    ADD COLUMN provider_status    text,
    ADD COLUMN provider_status_at timestamptz;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_passenger_id_disruption_id_stage_channel_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_once UNIQUE (passenger_id, disruption_id, stage, revision, channel);
CREATE INDEX deliveries_about ON deliveries (passenger_id, stage, about);
CREATE INDEX deliveries_provider_id ON deliveries (provider_id) WHERE provider_id IS NOT NULL;
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries ((stage = 'first_notice'), next_attempt_at)
    WHERE status IN ('pending', 'retrying', 'sending');
