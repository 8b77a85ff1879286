"""The contacts API: the reservation side hands notify each passenger's contact details."""

from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Body, Depends
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator
from starlette.exceptions import HTTPException

from services.notify import store
from shared.events import BOOKING_REF, PASSENGER_ID, BookingRef, PassengerId, at_most, no_nul
from shared.http import GatedRoute, require_role
from shared.runtime import Database

MAX_CONTACTS = 1000
MAX_BODY_BYTES = 2 * 1024 * 1024  # a thousand contacts at their longest (names as \\u escapes) fit

router = APIRouter(prefix="/v1", tags=["contacts"], route_class=GatedRoute,
                   dependencies=[Depends(require_role("reservations"))])


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_nul = model_validator(mode="before")(no_nul)

    passenger_id: PassengerId
    booking_ref: BookingRef
    # One line, as a greeting prints it: no control characters or line separators.
    given_name: str = Field(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]+$")
    email: EmailStr | None = None
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$",
                              description="E.164, e.g. +12125550123")
    channels: list[Literal["sms", "email", "push"]] = Field(
        min_length=1, max_length=3, description="In order of preference; `push` reaches the airline's app")
    opted_out: list[Literal["sms", "email", "push"]] = Field(
        default=[], max_length=3, description="Channels never to use, not even when another fails")
    locale: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$",
                        description="Notices in this language where we have it (en, es, fr, de), else English")

    @model_validator(mode="after")
    def _channels_have_addresses(self) -> "Contact":
        if "sms" in self.channels and not self.phone:
            raise ValueError("channel 'sms' needs a phone number")
        if "email" in self.channels and not self.email:
            raise ValueError("channel 'email' needs an email address")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("a channel is named twice")
        if refused := set(self.channels) & set(self.opted_out):
            raise ValueError(f"channel {sorted(refused)[0]!r} is both chosen and opted out of")
        return self


Contacts = Annotated[list[Contact], Field(min_length=1, max_length=MAX_CONTACTS), at_most(MAX_CONTACTS)]


class Stored(BaseModel):
    stored: int


@router.put("/contacts", response_model=Stored, operation_id="put_contacts",
            responses={409: {"description": "A passenger id held by another booking, before the post-deploy"
                                             " migration"}})
async def put_contacts(pool: Database, contacts: Annotated[Contacts, Body()]) -> Stored:
    """Create or replace the contact details of up to 1,000 passengers, all or none."""
    try:
        await _store(pool, contacts)
    except asyncpg.UniqueViolationError:
        # Only before the post-deploy migration of passenger ids per booking
        # (migrations/post_deploy/005_contacts_by_booking.sql): the previous release's key holds.
        raise HTTPException(409, "A passenger id here is held by another booking's passenger: until this"
                                 " release's post-deploy migration has run, passenger ids must be unique"
                                 " across bookings. Nothing was stored.") from None
    return Stored(stored=len(contacts))


async def _store(pool: asyncpg.Pool, contacts: list[Contact]) -> None:
    await store.put_contacts(pool, [(c.passenger_id, c.booking_ref, c.given_name, c.email, c.phone, c.channels,
                                     c.opted_out, c.locale) for c in contacts])


@router.delete("/contacts/{booking_ref}/{passenger_id}", status_code=204, operation_id="delete_contact")
async def delete_contact(pool: Database, booking_ref: Annotated[str, PathParam(pattern=BOOKING_REF)],
                         passenger_id: Annotated[str, PathParam(pattern=PASSENGER_ID)]) -> None:
    """Forget a passenger's contact details (erasure on request): the contact, and every delivery's
    detail; their notices' records remain, by id and status only. A passenger is named by booking
    and passenger id: a passenger id alone may belong to another booking's passenger too."""
    async with pool.acquire() as conn, conn.transaction():
        await store.erase_contact(conn, booking_ref, passenger_id)
