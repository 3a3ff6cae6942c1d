"""The webhooks API's bodies: endpoints, their attempts, resends, and the event a delivery
carries (described here for the OpenAPI; `delivery.body_of` writes it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, Field, StrictBool, create_model, model_validator

from policyjobs.api.conventions import Schema, Timestamp, set_present
from policyjobs.webhooks.catalogue import CATALOGUE
from policyjobs.webhooks.models import DESCRIPTION_MAX, DeliveryStatus

EventTypeName = Literal[tuple(kind.name for kind in CATALOGUE)]  # type: ignore[valid-type]
Url = Annotated[str, Field(min_length=1, max_length=2048,
                           description="Where deliveries go: an absolute https URL.")]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX)]
EventTypes = Annotated[list[EventTypeName], Field(  # type: ignore[valid-type]
    max_length=len(CATALOGUE), description="The event types it wants; empty: every type.")]


class WebhookEndpointCreate(Schema):
    """A new endpoint."""

    url: Url
    eventTypes: EventTypes = []
    description: Description = ""


class WebhookEndpointUpdate(Schema):
    """What to change of an endpoint; what is absent stays as it is."""

    url: Url | None = None
    eventTypes: EventTypes | None = None
    description: Description | None = None
    enabled: StrictBool | None = None


class WebhookEndpoint(Schema):
    """An endpoint: where the tenant's events go. Its secret is shown only when made."""

    locator: str
    url: str
    eventTypes: list[str]
    description: str
    enabled: bool
    createdAt: Timestamp
    updatedAt: Timestamp
    disabledReason: str | None = None
    failingSince: Timestamp | None = None
    secret: str | None = Field(default=None, description=(
        "The signing secret (`whsec_…`), in the answer that makes the endpoint only."))

    @classmethod
    def of(cls, row: Any, secret: str | None = None) -> Self:
        """An endpoint's row (and its new secret)."""
        view = cls(locator=row.locator, url=row.url, eventTypes=list(row.event_types),
                   description=row.description, enabled=row.enabled,
                   createdAt=row.created_at, updatedAt=row.updated_at)
        set_present(view, disabledReason=row.disabled_reason, failingSince=row.failing_since,
                    secret=secret)
        return view


class WebhookEndpointList(Schema):
    """A page of endpoints."""

    listCompleted: bool
    items: list[WebhookEndpoint]


class WebhookSecret(Schema):
    """An endpoint's new secret, shown this once; the old one signs beside it for a day."""

    locator: str
    secret: str


class WebhookAttempt(Schema):
    """One attempt at delivering an event to an endpoint."""

    deliveryLocator: str
    eventId: str
    eventType: str
    deliveryStatus: DeliveryStatus
    attemptedAt: Timestamp
    latencyMs: int
    response: str = Field(description="The first KiB of the answer's body.")
    statusCode: int | None = None
    error: str | None = None

    @classmethod
    def of(cls, row: Any) -> Self:
        """An attempt's row, with its delivery's status and its event's type."""
        view = cls(deliveryLocator=row.delivery_locator, eventId=row.event_id,
                   eventType=row.type, deliveryStatus=row.status,
                   attemptedAt=row.attempted_at, latencyMs=row.latency_ms,
                   response=row.response)
        set_present(view, statusCode=row.status_code, error=row.error)
        return view


class WebhookAttemptList(Schema):
    """A page of attempts, newest first."""

    listCompleted: bool
    items: list[WebhookAttempt]


class WebhookResend(Schema):
    """What to deliver again: one event, or every failed delivery since a time."""

    eventId: Annotated[str, Field(min_length=1, max_length=26)] | None = None
    failedSince: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.eventId is None) == (self.failedSince is None):
            raise ValueError("give eventId or failedSince, not both")
        return self


class WebhookResent(Schema):
    """The deliveries queued again."""

    deliveryLocators: list[str]


def event_models() -> dict[str, type[Schema]]:
    """The body of a delivery of each event type, by type, its `data` the type's own."""
    models: dict[str, type[Schema]] = {}
    for kind in CATALOGUE:
        title = "".join(part[:1].upper() + part[1:] for part in kind.name.split("."))
        fields: dict[str, Any] = dict.fromkeys(kind.data, (str | None, ...))
        data = create_model(f"{title}Data", __base__=Schema, **fields)
        name: Any = Literal[kind.name]  # the one type a body of this model has
        models[kind.name] = create_model(
            f"{title}Event", __base__=Schema, __doc__=kind.description,
            id=(str, Field(description="The event's ULID, also sent as `webhook-id`.")),
            type=(name, ...), timestamp=(Timestamp, ...),
            tenantLocator=(str, ...), data=(data, ...))
    return models
