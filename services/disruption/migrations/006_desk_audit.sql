-- An agent's idempotency key names one action at one service: the same key used at a second
-- service is a second action, and the console's log keeps both.
ALTER TABLE desk_log DROP CONSTRAINT desk_log_pkey;
ALTER TABLE desk_log ADD PRIMARY KEY (source, action_id);

-- Who read which flight's list of passengers (names and booking references), and when.
CREATE TABLE passenger_list_reads (
    id         bigserial PRIMARY KEY,
    reader     text NOT NULL,        -- the key's holder
    list       text NOT NULL,        -- 'flight' (its passengers) or 'worklist' (a page of it)
    flight_id  text,
    passengers integer NOT NULL,
    read_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX passenger_list_reads_by_reader ON passenger_list_reads (reader, read_at);
