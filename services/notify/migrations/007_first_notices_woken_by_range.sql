-- The first-notice senders are told which first notices a planning transaction added (the lowest
-- and highest id, `first_notice <lo> <hi>`) and claim those by their ids: a claim that looks the
-- queue over for what is due walks every delivery claimed since the last vacuum, which, during a
-- storm, is most of the table each time. NOTIFY is sent at commit only, so a sender never hears of
-- a delivery that was rolled back. Other inserts still wake with an empty payload, as before (a
-- replica of the previous release ignores the payload).
CREATE OR REPLACE FUNCTION deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lo bigint;
    hi bigint;
BEGIN
    SELECT min(id), max(id) INTO lo, hi FROM inserted WHERE stage = 'first_notice' AND status = 'pending';
    PERFORM pg_notify('notify_deliveries', CASE WHEN lo IS NULL THEN '' ELSE 'first_notice ' || lo || ' ' || hi END);
    RETURN NULL;
END $$;

DROP TRIGGER deliveries_notify ON deliveries;
CREATE TRIGGER deliveries_notify AFTER INSERT ON deliveries REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_notify();
