-- The disruptions kept here as received say their cause category as `cause` and their acceptance
-- as `accepted_at` now (shared/events.py PassengerDisruption): those kept before are read again.
UPDATE pending SET disruption = (disruption - 'reason' - 'noticed_at')
    || jsonb_build_object('cause', disruption -> 'reason')
    || CASE WHEN disruption ? 'noticed_at' THEN jsonb_build_object('accepted_at', disruption -> 'noticed_at')
            ELSE '{}'::jsonb END
WHERE disruption ? 'reason';
UPDATE rebookings SET decided = (decided - 'reason' - 'noticed_at')
    || jsonb_build_object('cause', decided -> 'reason')
    || CASE WHEN decided ? 'noticed_at' THEN jsonb_build_object('accepted_at', decided -> 'noticed_at')
            ELSE '{}'::jsonb END
WHERE decided ? 'reason';
