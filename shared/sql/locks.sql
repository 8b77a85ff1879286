-- The service's own locks: a row of this table each, held by SELECT ... FOR UPDATE until the
-- transaction ends. Advisory locks are the whole database's, and any role connected to it may take
-- any of them (another service's leaked credentials could hold this one's outbox relay for ever);
-- a row lock needs privileges on this schema's table, which only this service's role has.
-- Keys hash onto slots 0–4095 (two keys sharing a slot only wait for each other); 4096 is the
-- outbox relay's alone.
CREATE TABLE locks (slot int PRIMARY KEY);
INSERT INTO locks SELECT generate_series(0, 4096);
