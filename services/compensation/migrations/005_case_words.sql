-- One word for one thing: a case's cause category is its `cause` (a `reason` is a sentence for a
-- person), and its time is when the airline announced the disruption, from which notice periods count.
ALTER TABLE cases RENAME COLUMN reason TO cause;
ALTER TABLE cases RENAME COLUMN noticed_at TO announced_at;
