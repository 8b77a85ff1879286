-- What each passenger paid, in minor units, and how much of it has been refunded: the database,
-- not the code, guarantees that refunds never exceed the fare (and so never a booking's total).
ALTER TABLE passengers
    ADD COLUMN paid_minor     bigint,
    ADD COLUMN refunded_minor bigint NOT NULL DEFAULT 0;
-- ISO 4217 minor units, as services/compensation/case.py reckons them (new rows come from there).
UPDATE passengers SET paid_minor = round(fare * CASE
    WHEN currency IN ('BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF', 'UGX', 'VND', 'VUV',
                      'XAF', 'XOF', 'XPF') THEN 1
    WHEN currency IN ('BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND') THEN 1000
    ELSE 100 END);
UPDATE passengers p SET refunded_minor = r.total
FROM (SELECT booking_ref, passenger_id, sum(amount_minor) AS total FROM grants WHERE kind = 'refund'
      GROUP BY 1, 2) r
WHERE p.booking_ref = r.booking_ref AND p.passenger_id = r.passenger_id;
-- NOT VALID: enforced on every row written from now on, while a ticket refunded twice before this
-- (a round trip's two journeys each refunded the whole fare) stays as it was, for the airline to
-- find (refunded_minor > paid_minor) and recover; no further refund can be added to it.
ALTER TABLE passengers
    ALTER COLUMN paid_minor SET NOT NULL,
    ADD CONSTRAINT refunds_within_fare CHECK (refunded_minor BETWEEN 0 AND paid_minor) NOT VALID;

-- A refund that gives up the booking's later journeys (the return) as well.
ALTER TABLE cases ADD COLUMN whole_trip boolean NOT NULL DEFAULT false;
