ALTER TABLE cases ADD COLUMN refund_due boolean NOT NULL DEFAULT false;
UPDATE cases SET refund_due = true WHERE outcome = 'no_alternative';
