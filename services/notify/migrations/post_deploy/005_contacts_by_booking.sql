-- Contract, once no replica of the previous release runs: a passenger id is unique within its
-- booking only. Until this runs, a second booking's passenger with an id already held elsewhere
-- is refused (409) rather than merged.
ALTER TABLE contacts DROP CONSTRAINT contacts_pkey;
ALTER TABLE contacts ADD CONSTRAINT contacts_pkey PRIMARY KEY USING INDEX contacts_by_booking;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_once;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_once UNIQUE USING INDEX deliveries_once_by_booking;
DROP INDEX deliveries_about;
ALTER INDEX deliveries_about_by_booking RENAME TO deliveries_about;
