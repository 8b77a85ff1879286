"""What a flight event means for the flight and its passengers. Pure: no I/O."""

from dataclasses import dataclass
from typing import Literal

from shared.events import FlightCancelled, FlightDelayed

# A delay shorter than this changes nobody's plans enough to message them.
NOTIFIABLE_DELAY_MINUTES = 30


@dataclass(frozen=True)
class FlightState:
    status: Literal["scheduled", "delayed", "cancelled"]
    notified_delay_minutes: int


@dataclass(frozen=True)
class Assessment:
    status: Literal["scheduled", "delayed", "cancelled"]
    notified_delay_minutes: int
    disruption: Literal["cancelled", "delayed"] | None
    delay_minutes: int
    effect: str  # a short phrase for the flight's history

    @property
    def disrupts_passengers(self) -> bool:
        return self.disruption is not None


def assess(flight: FlightState, event: FlightCancelled | FlightDelayed,
           delay_minutes: int = 0) -> Assessment:
    """Decide the flight's new status and whether its passengers must hear about it.

    `delay_minutes` is the event's estimated departure minus the scheduled one."""
    if flight.status == "cancelled":
        # Cancellation is final until a reinstatement; a late delay report cannot undo it.
        return Assessment("cancelled", flight.notified_delay_minutes, None, 0,
                          "ignored: flight already cancelled")
    if isinstance(event, FlightCancelled):
        return Assessment("cancelled", flight.notified_delay_minutes, "cancelled", 0, "cancelled")
    status: Literal["scheduled", "delayed"] = "delayed" if delay_minutes > 0 else "scheduled"
    worse_by = delay_minutes - flight.notified_delay_minutes
    if delay_minutes >= NOTIFIABLE_DELAY_MINUTES and worse_by >= NOTIFIABLE_DELAY_MINUTES:
        return Assessment(status, delay_minutes, "delayed", delay_minutes,
                          f"delayed {delay_minutes} min: passengers told")
    return Assessment(status, flight.notified_delay_minutes, None, delay_minutes,
                      f"delayed {delay_minutes} min: no change worth a notice")
