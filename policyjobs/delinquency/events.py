"""The intake events delinquency owns: hold a delinquency, move its grace end, cancel an event."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from policyjobs.intake.events import EventId, EventModel, Locator


class DelinquencyHoldEvent(EventModel):
    """Hold a delinquency: its pending events and its lapse wait no more."""

    type: Literal["delinquencyHold"]
    eventId: EventId | None = None
    delinquencyLocator: Locator


class DelinquencyRescheduleEvent(EventModel):
    """Move a delinquency's grace end, and the events that count from it."""

    type: Literal["delinquencyReschedule"]
    eventId: EventId | None = None
    delinquencyLocator: Locator
    graceEndTime: AwareDatetime


class DelinquencyEventCancelEvent(EventModel):
    """Cancel one pending delinquency event."""

    type: Literal["delinquencyEventCancel"]
    eventId: EventId | None = None
    delinquencyEventLocator: Locator
