-- A provider's report on a text can arrive before the text's send is recorded: Twilio calls back
-- within milliseconds of taking a text, and the sender records a whole batch's results at once.
-- Such a report waits here until its text is recorded, then counts as if it had come after.
CREATE TABLE early_reports (
    provider_id text PRIMARY KEY,
    state       text NOT NULL,
    failed      boolean NOT NULL,  -- the passenger did not get the text
    received_at timestamptz NOT NULL DEFAULT now()
);
