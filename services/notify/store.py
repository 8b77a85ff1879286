"""Notify's tables behind functions named for what they load or store, each returning typed rows:
the handlers, the sender, the delivery reports and the contacts API hold no SQL of their own."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Self

import asyncpg

from services.notify import policy, replies
from shared.db import row_of


@dataclass(frozen=True)
class _OneNotice:
    """One notice to one passenger by one channel: what every row of `deliveries` read here has."""

    id: int
    passenger_id: str
    disruption_id: str
    booking_ref: str
    stage: str
    revision: int
    channel: str
    traceparent: str | None

    @classmethod
    def of(cls, record: asyncpg.Record) -> Self:
        return row_of(cls, record)


@dataclass(frozen=True)
class Delivery(_OneNotice):
    """A delivery, as what is reported of it (the ops board's `notice.delivered`) needs it."""

    status: str
    detail: str | None


@dataclass(frozen=True)
class Claimed(_OneNotice):
    """A delivery claimed for sending, with what its message needs: the notice, and its
    passenger's contact details and the channels already planned for the same notice."""

    about: str | None
    template: str
    facts: dict[str, Any]
    occurred_at: datetime
    created_at: datetime
    attempts: int
    given_name: str
    email: str | None
    phone: str | None
    locale: str
    channels: list[str]
    opted_out: list[str]
    siblings: list[str]
    # Sent before with an end nobody recorded (a crash, a timeout): it may be at the provider.
    uncertain: bool


@dataclass(frozen=True)
class Recorded:
    """What became of one claimed delivery, as the sender records it."""

    delivery_id: int
    status: str  # pending, retrying, sent, failed, fallen_back
    provider_id: str | None
    detail: str | None
    retry_in: float  # seconds until it is due again
    unspent: bool  # the attempt it was claimed with is given back


@dataclass(frozen=True)
class EarlyReport:
    provider_id: str
    state: str
    failed: bool


_DELIVERY = "id, passenger_id, disruption_id, booking_ref, stage, revision, channel, status, detail, traceparent"
_DELIVERY_OF_D = ", ".join(f"d.{c.strip()}" for c in _DELIVERY.split(","))


# The channels a contact refused, with those its number (STOP) or address (a bounce) refused since.
_OPTED_OUT = """c.opted_out
    || CASE WHEN EXISTS (SELECT 1 FROM opted_out_numbers o WHERE o.phone = c.phone) THEN '{sms}'::text[] ELSE '{}' END
    || CASE WHEN EXISTS (SELECT 1 FROM bounced_addresses b WHERE b.email = lower(c.email)) THEN '{email}'::text[]
            ELSE '{}' END AS opted_out"""


# --- planning --------------------------------------------------------------------------------


async def contacts(conn: asyncpg.Connection, passengers: list[tuple[str, str]]
                   ) -> dict[tuple[str, str], policy.Contact]:
    """Contact details by (booking, passenger)."""
    return {(r["booking_ref"], r["passenger_id"]): policy.Contact(r["channels"], r["opted_out"], r["email"], r["phone"],
                                                                  r["locale"])
            for r in await conn.fetch(
                f"""SELECT c.booking_ref, c.passenger_id, c.email, c.phone, c.channels, {_OPTED_OUT}, c.locale
                    FROM contacts c JOIN unnest($1::text[], $2::text[]) AS p(booking_ref, passenger_id)
                      USING (booking_ref, passenger_id)""",
                [b for b, _ in passengers], [p for _, p in passengers])}


async def first_notice_rates(conn: asyncpg.Connection) -> dict[str, float]:
    """First notices handed to each channel's provider a second, in the busiest ten seconds of the
    last day."""
    return {r["channel"]: float(r["rate"]) for r in await conn.fetch(
        """SELECT channel, max(n) / 10.0 AS rate FROM (
               SELECT channel, date_bin('10 seconds', sent_at, timestamptz 'epoch') AS at, count(*) AS n
               FROM deliveries WHERE stage = 'first_notice' AND sent_at > now() - interval '1 day'
               GROUP BY 1, 2) busiest GROUP BY channel""")}


async def planned_about(conn: asyncpg.Connection, keys: list[tuple[str, str, str, str | None]]
                        ) -> dict[tuple[str, str, str, str | None], list[policy.Planned]]:
    """The deliveries already planned for each (booking, passenger, stage, about)."""
    planned: dict[tuple[str, str, str, str | None], list[policy.Planned]] = {}
    for r in await conn.fetch(
            """SELECT d.id, d.booking_ref, d.passenger_id, d.stage, d.about, d.channel, d.status, d.occurred_at,
                      d.disruption_id, d.revision
               FROM deliveries d
               JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(booking_ref, passenger_id, stage, about)
                 ON d.booking_ref = k.booking_ref AND d.passenger_id = k.passenger_id AND d.stage = k.stage
                    AND d.about = k.about""",
            *(list(column) for column in zip(*keys, strict=True))):
        planned.setdefault((r["booking_ref"], r["passenger_id"], r["stage"], r["about"]), []).append(policy.Planned(
            r["id"], r["passenger_id"], r["channel"], r["status"], r["occurred_at"],
            (r["disruption_id"], r["revision"])))
    return planned


async def supersede(conn: asyncpg.Connection, ids: list[int]) -> list[Delivery]:
    """Mark these deliveries replaced by a newer notice, those not yet sent; those marked."""
    return [Delivery.of(r) for r in await conn.fetch(
        f"""UPDATE deliveries SET status = 'superseded', detail = 'replaced by a newer notice before it was sent'
            WHERE id = ANY($1::bigint[]) AND status IN ('pending', 'retrying')
            RETURNING {_DELIVERY}""", ids)]


async def add_deliveries(conn: asyncpg.Connection, planned: list[policy.Delivery], requests: list[policy.Request]
                         ) -> list[Delivery]:
    """The planned deliveries (each of the request at its `notice` place, with that request's
    trace), once each; those new that nobody can receive (the rest are the senders'), for their
    report."""
    if not planned:
        return []
    rows = [(d.passenger_id, n.disruption_id, n.stage, n.revision, d.channel, n.booking_ref, n.template,
             n.facts, n.occurred_at, n.about, d.status, d.detail, n.traceparent)
            for d, n in ((d, requests[d.notice]) for d in planned)]
    return [Delivery.of(r) for r in await conn.fetch(
        f"""WITH added AS (
                INSERT INTO deliveries (passenger_id, disruption_id, stage, revision, channel, booking_ref,
                                        template, facts, occurred_at, about, status, detail, traceparent)
                SELECT r.passenger_id, r.disruption_id, r.stage, r.revision, r.channel, r.booking_ref, r.template,
                       r.facts::jsonb, r.occurred_at, r.about, r.status, r.detail, r.traceparent
                FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[],
                            $8::text[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[])
                     AS r(passenger_id, disruption_id, stage, revision, channel, booking_ref, template, facts,
                          occurred_at, about, status, detail, traceparent)
                ON CONFLICT (booking_ref, passenger_id, disruption_id, stage, revision, channel) DO NOTHING
                RETURNING {_DELIVERY})
            SELECT * FROM added WHERE status = 'undeliverable'""", *(list(c) for c in zip(*rows, strict=True)))]


async def fall_back(conn: asyncpg.Connection, deliveries: Sequence[tuple[int, str]]) -> None:
    """Plan each (delivery, other channel): the same notice again by the other channel, naming
    the delivery it stands in for (once: a second fallback to the same channel is a duplicate)."""
    if deliveries:
        await conn.executemany(
            """INSERT INTO deliveries (passenger_id, disruption_id, stage, revision, channel, booking_ref,
                                       template, facts, occurred_at, about, fallback_of, traceparent)
               SELECT passenger_id, disruption_id, stage, revision, $2, booking_ref, template, facts,
                      occurred_at, about, id, traceparent
               FROM deliveries WHERE id = $1
               ON CONFLICT DO NOTHING""", deliveries)


# --- sending ---------------------------------------------------------------------------------


# A delivery is claimed only with a contact to send to, or as a reply in a conversation
# (replies.py), which goes to the number or address it answers and names its passenger in its
# facts: its own passenger id is the conversation's, which no contact has, so the previous
# release's senders (which join contacts by it) never claim a reply they cannot render. A channel
# the passenger's number or address refused since (STOP, a bounce) counts among their opt-outs.
_CLAIM = """WITH due AS ({due}),
           claimed AS (
               UPDATE deliveries d SET status = 'sending', attempts = attempts + 1, claimed_at = now()
               FROM due
               WHERE d.id = due.id
                 AND (d.stage = 'conversation'
                      OR EXISTS (SELECT 1 FROM contacts c WHERE c.booking_ref = d.booking_ref
                                                            AND c.passenger_id = d.passenger_id))
               RETURNING d.*, due.reclaimed)
           SELECT d.reclaimed OR d.attempts > 1 AS uncertain,
                  d.id, d.passenger_id, d.disruption_id, d.stage, d.revision, d.channel, d.about,
                  d.booking_ref, d.template, d.facts, d.occurred_at, d.created_at, d.attempts, d.traceparent,
                  coalesce(c.given_name, '') AS given_name,
                  coalesce(CASE WHEN d.channel = 'email' THEN d.reply_to END, c.email) AS email,
                  coalesce(CASE WHEN d.channel = 'sms' THEN d.reply_to END, c.phone) AS phone,
                  coalesce(c.locale, d.facts ->> 'language', 'en') AS locale,
                  coalesce(c.channels, ARRAY[d.channel]) AS channels,
                  coalesce(c.opted_out, '{{}}')
                    || CASE WHEN EXISTS (SELECT 1 FROM opted_out_numbers o
                                         WHERE o.phone = coalesce(CASE WHEN d.channel = 'sms' THEN d.reply_to END,
                                                                  c.phone)) THEN '{{sms}}'::text[]
                            ELSE '{{}}' END
                    || CASE WHEN EXISTS (SELECT 1 FROM bounced_addresses b
                                         WHERE b.email = lower(coalesce(CASE WHEN d.channel = 'email'
                                                                             THEN d.reply_to END, c.email)))
                       THEN '{{email}}'::text[]
                            ELSE '{{}}' END AS opted_out,
                  ARRAY(SELECT o.channel FROM deliveries o
                        WHERE o.booking_ref = d.booking_ref AND o.passenger_id = d.passenger_id
                          AND o.disruption_id = d.disruption_id
                          AND o.stage = d.stage AND o.revision = d.revision) AS siblings
           FROM claimed d LEFT JOIN contacts c
             ON c.booking_ref = d.booking_ref
                AND c.passenger_id = coalesce(d.facts ->> 'passenger_id', d.passenger_id)"""
_CLAIM_DUE = _CLAIM.format(due="""
               SELECT id, status = 'sending' AS reclaimed FROM deliveries
               WHERE (stage = 'first_notice') = $3
                 AND ((status IN ('pending', 'retrying') AND next_attempt_at <= now())
                      OR (status = 'sending' AND claimed_at < now() - $2::interval))
               ORDER BY next_attempt_at, id
               LIMIT $1 FOR UPDATE SKIP LOCKED""")
_CLAIM_ADDED = _CLAIM.format(due="""
               SELECT id, false AS reclaimed FROM deliveries
               WHERE id BETWEEN $2 AND $3 AND stage = 'first_notice' AND status = 'pending'
                 AND next_attempt_at <= now()
               ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""")


async def claim(pool: asyncpg.Pool, most: int, lease: timedelta, first_notices: bool) -> list[Claimed]:
    """Claim (in a transaction of its own, committed) up to `most` due deliveries of the path,
    with a claim left by a crash for longer than the lease taken again."""
    return [Claimed.of(r) for r in await pool.fetch(_CLAIM_DUE, most, lease, first_notices)]


async def claim_first_notices(pool: asyncpg.Pool, most: int, lowest: int, highest: int) -> list[Claimed]:
    """Claim up to `most` of the new first notices with ids from `lowest` to `highest` (those a
    planning transaction added: migrations/007), found by their ids."""
    return [Claimed.of(r) for r in await pool.fetch(_CLAIM_ADDED, most, lowest, highest)]


async def record(conn: asyncpg.Connection, results: list[Recorded]) -> None:
    """Each claimed delivery's result, in one statement: an unspent attempt is given back (a
    held delivery waits for its provider's circuit without spending one)."""
    await conn.execute(
        """UPDATE deliveries d SET status = r.status, provider_id = r.provider_id, detail = r.detail,
               sent_at = CASE WHEN r.status = 'sent' THEN now() END,
               next_attempt_at = now() + make_interval(secs => r.retry_in),
               attempts = d.attempts - r.unspent
           FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::int[])
                AS r(id, status, provider_id, detail, retry_in, unspent)
           WHERE d.id = r.id""",
        [r.delivery_id for r in results], [r.status for r in results], [r.provider_id for r in results],
        [r.detail for r in results], [r.retry_in for r in results], [1 if r.unspent else 0 for r in results])


async def waiting(pool: asyncpg.Pool, first_notices: bool) -> dict[str, int]:
    """How many of the path's deliveries are pending, retrying and being sent."""
    return {r["status"]: r["n"] for r in await pool.fetch(
        "SELECT status, count(*) AS n FROM deliveries WHERE (stage = 'first_notice') = $1"
        " AND status IN ('pending', 'retrying', 'sending') GROUP BY status", first_notices)}


# --- delivery reports ------------------------------------------------------------------------


async def report_status(conn: asyncpg.Connection, reports: list[tuple[str, str]]) -> set[str]:
    """Record each (provider id, state) on its text; the provider ids of the texts recorded."""
    return {r["provider_id"] for r in await conn.fetch(
        # `= ANY` as well as the join: the planner then looks the ids up in their index
        # rather than scanning every delivery to hash-join a list it takes for 100 rows.
        """UPDATE deliveries d SET provider_status = r.state, provider_status_at = now()
           FROM unnest($1::text[], $2::text[]) AS r(provider_id, state)
           WHERE d.provider_id = ANY($1::text[]) AND d.provider_id = r.provider_id AND d.channel = 'sms'
           RETURNING d.provider_id""",
        [p for p, _ in reports], [state for _, state in reports])}


async def report_one_status(pool: asyncpg.Pool, provider_id: str, state: str) -> bool:
    """`report_status` for one text, in one statement of its own; whether its text is recorded."""
    status = await pool.execute("UPDATE deliveries SET provider_status = $2, provider_status_at = now()"
                                " WHERE provider_id = $1 AND channel = 'sms'", provider_id, state)
    return bool(status != "UPDATE 0")


async def report_failure(conn: asyncpg.Connection, provider_id: str, state: str) -> Delivery | None:
    """Record the state on its text; the text, if it is recorded."""
    d = await conn.fetchrow(
        f"""UPDATE deliveries SET provider_status = $2, provider_status_at = now()
            WHERE provider_id = $1 AND channel = 'sms' RETURNING {_DELIVERY}""", provider_id, state)
    return Delivery.of(d) if d else None


async def undelivered(conn: asyncpg.Connection, delivery_id: int, detail: str) -> None:
    await conn.execute("UPDATE deliveries SET status = 'failed', detail = $2 WHERE id = $1", delivery_id, detail)


async def contact(conn: asyncpg.Connection, booking_ref: str, passenger_id: str) -> policy.Contact | None:
    c = await conn.fetchrow(f"SELECT channels, {_OPTED_OUT}, email, phone FROM contacts c"
                            " WHERE booking_ref = $1 AND passenger_id = $2", booking_ref, passenger_id)
    return policy.Contact(c["channels"], c["opted_out"], c["email"], c["phone"]) if c else None


async def channels_planned(conn: asyncpg.Connection, d: Delivery) -> list[str]:
    """The channels planned for the same notice to the same passenger as this delivery."""
    return [r["channel"] for r in await conn.fetch(
        "SELECT channel FROM deliveries WHERE booking_ref = $1 AND passenger_id = $2 AND disruption_id = $3"
        " AND stage = $4 AND revision = $5", d.booking_ref, d.passenger_id, d.disruption_id, d.stage, d.revision)]


# A later report on the same text is the newer word on it.
_HOLD_EARLY = """INSERT INTO early_reports (provider_id, state, failed)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[])
                 ON CONFLICT (provider_id) DO UPDATE SET state = excluded.state, failed = excluded.failed"""


async def hold_early(conn: asyncpg.Connection | asyncpg.Pool, reports: list[EarlyReport]) -> None:
    """Keep reports on texts not (yet) recorded."""
    await conn.execute(_HOLD_EARLY, [r.provider_id for r in reports], [r.state for r in reports],
                       [r.failed for r in reports])


async def take_early(conn: asyncpg.Connection, kept_for: timedelta) -> list[EarlyReport]:
    """The held reports whose texts are now recorded, taken out; and those older than `kept_for`
    forgotten."""
    # The few held ids, looked up in the index: a join scans every delivery, tens of milliseconds
    # a sweep during a storm.
    held = [r["provider_id"] for r in await conn.fetch("SELECT provider_id FROM early_reports")]
    due = [row_of(EarlyReport, r) for r in await conn.fetch(
        """DELETE FROM early_reports e USING deliveries d
           WHERE e.provider_id = ANY($1::text[]) AND d.provider_id = ANY($1::text[])
             AND d.provider_id = e.provider_id AND d.channel = 'sms'
           RETURNING e.provider_id, e.state, e.failed""", held)] if held else []
    await conn.execute("DELETE FROM early_reports WHERE received_at < now() - $1::interval", kept_for)
    return due


# --- contacts --------------------------------------------------------------------------------


async def put_contacts(pool: asyncpg.Pool, contacts: Sequence[tuple[str, str, str, str | None, str | None,
                                                                   Sequence[str], Sequence[str], str]]) -> None:
    """Create or replace each (passenger, booking, given name, email, phone, channels, opted out,
    locale)."""
    await pool.executemany(
        """INSERT INTO contacts (passenger_id, booking_ref, given_name, email, phone, channels,
                                 opted_out, locale)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (booking_ref, passenger_id) DO UPDATE SET
               given_name = EXCLUDED.given_name,
               email = EXCLUDED.email, phone = EXCLUDED.phone, channels = EXCLUDED.channels,
               opted_out = EXCLUDED.opted_out, locale = EXCLUDED.locale, updated_at = now()""", contacts)


async def erase_contact(conn: asyncpg.Connection, booking_ref: str, passenger_id: str) -> None:
    """The contact, their conversations, and every delivery's detail and provider id; what was
    still to send is undeliverable."""
    await conn.execute("DELETE FROM contacts WHERE booking_ref = $1 AND passenger_id = $2", booking_ref, passenger_id)
    # What they wrote to us, and the number or address it came from, go with them.
    await conn.execute("""UPDATE deliveries SET reply_to = NULL, provider_id = NULL,
                                 status = CASE WHEN status IN ('pending', 'retrying') THEN 'undeliverable'
                                               ELSE status END,
                                 detail = CASE WHEN status IN ('pending', 'retrying') THEN 'contact details erased'
                                          END
                          WHERE passenger_id IN (SELECT 'conversation-' || id FROM conversations
                                                 WHERE booking_ref = $1 AND passenger_id = $2)""",
                       booking_ref, passenger_id)
    await conn.execute("DELETE FROM conversations WHERE booking_ref = $1 AND passenger_id = $2",
                       booking_ref, passenger_id)
    await conn.execute("UPDATE deliveries SET detail = NULL, provider_id = NULL, reply_to = NULL"
                       " WHERE booking_ref = $1 AND passenger_id = $2", booking_ref, passenger_id)
    await conn.execute("UPDATE deliveries SET status = 'undeliverable', detail = 'contact details erased'"
                       " WHERE booking_ref = $1 AND passenger_id = $2 AND status IN ('pending', 'retrying')",
                       booking_ref, passenger_id)


# --- conversations: what passengers write back ---------------------------------------------


@dataclass(frozen=True)
class Writer:
    """The passenger a reply is from, as their latest message to that number or address names
    them."""

    booking_ref: str
    passenger_id: str
    given_name: str
    locale: str


@dataclass(frozen=True)
class Conversation:
    id: int
    booking_ref: str | None
    passenger_id: str | None
    channel: str
    locale: str
    menu: list[str]
    waiting_since: datetime | None


async def writer(conn: asyncpg.Connection, channel: str, address: str) -> Writer | None:
    """Whose number or address this is: of the passengers who have it, the one last written to
    there (a family sharing a phone answers the latest message), else the one last given it."""
    r = await conn.fetchrow(
        f"""SELECT c.booking_ref, c.passenger_id, c.given_name, c.locale FROM contacts c
            LEFT JOIN LATERAL (SELECT max(d.sent_at) AS last FROM deliveries d
                               WHERE d.booking_ref = c.booking_ref AND d.passenger_id = c.passenger_id
                                 AND d.channel = $2) d ON true
            WHERE {"c.phone = $1" if channel == "sms" else "lower(c.email) = $1"}
            ORDER BY d.last DESC NULLS LAST, c.updated_at DESC LIMIT 1""", address, channel)
    return row_of(Writer, r) if r else None


async def conversation(conn: asyncpg.Connection, channel: str, address: str, who: Writer | None,
                       locale: str) -> Conversation:
    """The thread with this number or address, opened if new, locked for this reply (two replies
    at once from one phone are read in turn). It follows the passenger last written to there."""
    r = await conn.fetchrow(
        """INSERT INTO conversations (channel, address, booking_ref, passenger_id, locale)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (channel, address) DO UPDATE SET
               booking_ref = coalesce(excluded.booking_ref, conversations.booking_ref),
               passenger_id = coalesce(excluded.passenger_id, conversations.passenger_id),
               updated_at = now()
           RETURNING id, booking_ref, passenger_id, channel, locale, menu, waiting_since""",
        channel, address, who and who.booking_ref, who and who.passenger_id, locale)
    return row_of(Conversation, r)


async def heard(conn: asyncpg.Connection, conversation_id: int, body: str, said: str, provider_id: str) -> bool:
    """Record a passenger's message; False if its provider sent it before (acted on once)."""
    status = await conn.execute(
        "INSERT INTO conversation_messages (conversation_id, direction, body, said, provider_id)"
        " VALUES ($1, 'in', $2, $3, $4) ON CONFLICT (provider_id) DO NOTHING",
        conversation_id, body, said, provider_id)
    return bool(status == "INSERT 0 1")


async def number_opted_out(conn: asyncpg.Connection, phone: str) -> tuple[bool, bool]:
    """(replied STOP, and was told so)."""
    r = await conn.fetchrow("SELECT confirmed FROM opted_out_numbers WHERE phone = $1", phone)
    return (r is not None, bool(r and r["confirmed"]))


async def opt_out(conn: asyncpg.Connection, phone: str, confirmed: bool) -> None:
    await conn.execute("INSERT INTO opted_out_numbers (phone, confirmed) VALUES ($1, $2)"
                       " ON CONFLICT (phone) DO UPDATE SET confirmed = opted_out_numbers.confirmed OR $2",
                       phone, confirmed)


async def opt_in(conn: asyncpg.Connection, phone: str) -> None:
    await conn.execute("DELETE FROM opted_out_numbers WHERE phone = $1", phone)


async def choice_link(conn: asyncpg.Connection, booking_ref: str, passenger_id: str) -> tuple[str, dict] | None:
    """The passenger's latest rebooking notice, as (kind, facts): its choice link, sealed."""
    r = await conn.fetchrow(
        """SELECT template, facts FROM deliveries
           WHERE booking_ref = $1 AND passenger_id = $2 AND template = 'rebooked'
           ORDER BY occurred_at DESC, id DESC LIMIT 1""", booking_ref, passenger_id)
    return (r["template"], r["facts"]) if r else None


async def offered(conn: asyncpg.Connection, conversation_id: int, option_ids: list[str]) -> None:
    await conn.execute("UPDATE conversations SET menu = $2 WHERE id = $1", conversation_id, option_ids)


async def wait_for_person(conn: asyncpg.Connection, conversation_id: int, answer_by: datetime) -> None:
    """A person must answer: since the oldest message unanswered, by `answer_by`."""
    await conn.execute("UPDATE conversations SET waiting_since = coalesce(waiting_since, now()),"
                       " answer_by = coalesce(answer_by, $2) WHERE id = $1", conversation_id, answer_by)


async def answered(conn: asyncpg.Connection, conversation_id: int) -> None:
    await conn.execute("UPDATE conversations SET waiting_since = NULL, answer_by = NULL WHERE id = $1",
                       conversation_id)


async def reply(conn: asyncpg.Connection, c: Conversation, address: str, body: str, said: str,
                facts: dict[str, Any]) -> int:
    """Record what we answer, and plan it as a delivery of its own on the thread's channel, to
    the number or address the passenger wrote from."""
    message_id: int = await conn.fetchval(
        "INSERT INTO conversation_messages (conversation_id, direction, body, said) VALUES ($1, 'out', $2, $3)"
        " RETURNING id", c.id, body, said)
    await conn.execute(
        """INSERT INTO deliveries (passenger_id, disruption_id, stage, revision, channel, booking_ref, template,
                                   facts, occurred_at, reply_to)
           VALUES ($1, $1, $2, $3, $4, $5, 'conversation_reply', $6, now(), $7)""",
        f"conversation-{c.id}", replies.STAGE, message_id, c.channel, c.booking_ref or "",
        facts | {"passenger_id": c.passenger_id}, address)
    return message_id


@dataclass(frozen=True)
class ThreadMessage:
    direction: Literal["in", "out"]
    body: str
    said: str  # what a passenger's message was read as (a keyword, `message`), or who wrote ours
    at: datetime


@dataclass(frozen=True)
class Thread:
    """A conversation as the desk reads it (and the console's API answers it): whose it is (name
    and booking, never the number or address), and its messages, oldest first."""

    id: int
    booking_ref: str | None
    passenger_id: str | None
    given_name: str | None
    channel: str
    locale: str
    waiting_since: datetime | None
    answer_by: datetime | None
    updated_at: datetime
    messages: list[ThreadMessage]


_THREAD = """SELECT t.id, t.booking_ref, t.passenger_id, c.given_name, t.channel, t.locale, t.waiting_since,
                    t.answer_by, t.updated_at,
                    ARRAY(SELECT jsonb_build_object('direction', m.direction, 'body', m.body, 'said', m.said,
                                                    'at', m.at)
                          FROM conversation_messages m WHERE m.conversation_id = t.id
                          ORDER BY m.at DESC, m.id DESC LIMIT $2) AS messages
             FROM conversations t
             LEFT JOIN contacts c ON c.booking_ref = t.booking_ref AND c.passenger_id = t.passenger_id"""


async def threads(conn: asyncpg.Connection | asyncpg.Pool, waiting_only: bool, most: int,
                  messages: int = 5) -> list[Thread]:
    """Threads for the desk: those waiting for a person, longest waiting first; or all, latest first."""
    return [_thread(r) for r in await conn.fetch(
        f"""{_THREAD} {"WHERE t.waiting_since IS NOT NULL" if waiting_only else ""}
            ORDER BY {"t.waiting_since" if waiting_only else "t.updated_at DESC"}, t.id LIMIT $1""", most, messages)]


async def thread(conn: asyncpg.Connection | asyncpg.Pool, conversation_id: int, messages: int = 200) -> Thread | None:
    r = await conn.fetchrow(f"{_THREAD} WHERE t.id = $1", conversation_id, messages)
    return _thread(r) if r else None


def _thread(r: asyncpg.Record) -> Thread:
    said = [json.loads(m) if isinstance(m, str) else m for m in r["messages"]]
    return Thread(**{k: r[k] for k in r.keys() if k != "messages"},
                  messages=[ThreadMessage(m["direction"], m["body"], m["said"], datetime.fromisoformat(m["at"]))
                            for m in reversed(said)])


async def conversation_by_id(conn: asyncpg.Connection, conversation_id: int) -> tuple[Conversation, str] | None:
    """The thread and its address, locked for an agent's answer."""
    r = await conn.fetchrow("SELECT id, booking_ref, passenger_id, channel, locale, menu, waiting_since, address"
                            " FROM conversations WHERE id = $1 FOR UPDATE", conversation_id)
    return (row_of(Conversation, r), r["address"]) if r else None


# --- bounces ---------------------------------------------------------------------------------


async def bounced(conn: asyncpg.Connection, email: str, kind: str, reason: str | None) -> None:
    await conn.execute("INSERT INTO bounced_addresses (email, kind, reason) VALUES (lower($1), $2, $3)"
                       " ON CONFLICT (email) DO UPDATE SET kind = $2, reason = $3, bounced_at = now()",
                       email, kind, reason)


async def emails_sent(conn: asyncpg.Connection, provider_id: str, email: str) -> list[Delivery]:
    """The emails sent under this provider id to this address (SendGrid gives one id to a request
    of many), not yet known to have failed."""
    return [Delivery.of(r) for r in await conn.fetch(
        f"""SELECT {_DELIVERY_OF_D} FROM deliveries d
            JOIN contacts c ON c.booking_ref = d.booking_ref AND c.passenger_id = d.passenger_id
            WHERE d.provider_id = $1 AND d.channel = 'email' AND d.status = 'sent' AND lower(c.email) = lower($2)""",
        provider_id, email)]
