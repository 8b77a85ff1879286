-- Passengers answer back (services/notify/replies.py, conversations.py): what they wrote, what
-- we answered, and the numbers and addresses that must not be written to again.

-- One per passenger (or, for a number we do not know, per number) and channel: the thread an
-- agent reads and answers. `address` is the number or email it came from: a contact detail, so
-- here and nowhere else. `waiting_since`: the passenger's oldest message no person has answered.
CREATE TABLE conversations (
    id            bigserial PRIMARY KEY,
    booking_ref   text,
    passenger_id  text,
    channel       text NOT NULL,
    address       text NOT NULL,
    locale        text NOT NULL DEFAULT 'en',
    waiting_since timestamptz,
    answer_by     timestamptz,
    -- The other flights last offered by text, in the order their numbers name them.
    menu          text[] NOT NULL DEFAULT '{}',
    opened_at     timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, address)
);
CREATE INDEX conversations_waiting ON conversations (waiting_since) WHERE waiting_since IS NOT NULL;

-- Every message of a thread, both ways. An inbound one carries its provider's id, once: a
-- webhook the provider sends again adds nothing and acts on nothing.
CREATE TABLE conversation_messages (
    id              bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations ON DELETE CASCADE,
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    body            text NOT NULL,
    said            text NOT NULL,  -- what we read it as (replies.Said.intent), or who wrote it
    provider_id     text UNIQUE,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_messages_thread ON conversation_messages (conversation_id, at);

-- A number that replied STOP (or its like): no text goes to it but the confirmation, whatever
-- the reservation system later says of its channels, until it replies START.
CREATE TABLE opted_out_numbers (
    phone         text PRIMARY KEY,
    opted_out_at  timestamptz NOT NULL DEFAULT now(),
    confirmed     boolean NOT NULL DEFAULT false
);

-- An address the email provider reported as bouncing or a complaint: notices to it go by text.
CREATE TABLE bounced_addresses (
    email       text PRIMARY KEY,  -- lower case
    kind        text NOT NULL,     -- bounce | dropped | spamreport | dsn
    reason      text,
    bounced_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX contacts_by_phone ON contacts (phone) WHERE phone IS NOT NULL;
CREATE INDEX contacts_by_email ON contacts (lower(email)) WHERE email IS NOT NULL;
-- A reply to a number we hold no contact for goes to the number its message came from.
ALTER TABLE deliveries ADD COLUMN reply_to text;
