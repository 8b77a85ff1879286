-- What each passenger paid, in minor units, and how much of it has been refunded: the database,
-- not the code, guarantees that refunds never exceed the fare (and so never a booking's total).
ALTER TABLE passengers
    ADD COLUMN paid_minor     bigint,
    ADD COLUMN refunded_minor bigint NOT NULL DEFAULT 0;
UPDATE passengers SET paid_minor = round(fare * 100);
UPDATE passengers p SET refunded_minor = r.total
FROM (SELECT booking_ref, passenger_id, sum(amount_minor) AS total FROM grants WHERE kind = 'refund'
      GROUP BY 1, 2) r
WHERE p.booking_ref = r.booking_ref AND p.passenger_id = r.passenger_id;
UPDATE passengers SET paid_minor = refunded_minor WHERE paid_minor < refunded_minor;
ALTER TABLE passengers
    ALTER COLUMN paid_minor SET NOT NULL,
    ADD CONSTRAINT refunds_within_fare CHECK (refunded_minor BETWEEN 0 AND paid_minor);

-- A refund that gives up the booking's later journeys (the return) as well.
ALTER TABLE cases ADD COLUMN whole_trip boolean NOT NULL DEFAULT false;
