"""The events policyjobs pushes: their types, what each means, and the locators it carries.

A type is named `<area>.<object>.<change>`, each part in lowerCamel. An event is thin, as
Kill Bill's push notifications are: the locators of what changed, and a subscriber calls the
API for the rest. Every event carries `tenantLocator` beside `data`; `data` holds the keys
its type lists here, each a locator (or, for a job's reference, its type).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EventKind:
    """One type of event: its name, what it says happened, and the keys of its `data`."""

    name: str
    description: str
    data: tuple[str, ...]

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of its `data`."""
        return {
            "type": "object",
            "properties": {key: {"type": "string"} for key in self.data},
            "required": list(self.data),
        }


_JOB = ("jobLocator", "referenceType", "referenceLocator")

CATALOGUE: tuple[EventKind, ...] = (
    EventKind("documents.job.finished",
              "A documents job ended with every document ready.", _JOB),
    EventKind("documents.job.failed",
              "A documents job failed: a document could not be made, or its attempts ran out.",
              _JOB),
    EventKind("documents.job.cancelled",
              "A documents job was cancelled before it started (an operator's cancel).", _JOB),
    EventKind("documents.job.timedOut",
              "A documents job ran past its deadline; it waits for a retrigger.", _JOB),
    EventKind("documents.document.ready",
              "A document's file is made and can be fetched.",
              ("documentLocator", *_JOB)),
    EventKind("installments.job.finished",
              "An installments job ended: the reference's installment lattice is built.", _JOB),
    EventKind("installments.job.failed",
              "An installments job failed: its event could not be split into installments.",
              _JOB),
    EventKind("installments.job.cancelled",
              "An installments job was cancelled before it started (an operator's cancel); the "
              "next job of its quote or policy runs.", _JOB),
    EventKind("invoicing.invoice.generated",
              "An invoice was made, by a generation run or early invoicing.",
              ("invoiceLocator", "accountLocator")),
    EventKind("invoicing.job.finished",
              "An invoicing job (a generation run's or early invoicing) ended.", _JOB),
    EventKind("invoicing.job.failed", "An invoicing job failed.", _JOB),
    EventKind("invoicing.job.cancelled",
              "An invoicing job was cancelled before it ended (an operator's cancel).", _JOB),
    EventKind("invoicing.payment.applied",
              "A payment the platform reported was applied to an invoice.",
              ("invoiceLocator", "accountLocator", "paymentLocator")),
    EventKind("delinquency.delinquency.created",
              "An invoice was still unpaid at its due time: a delinquency opened, in grace.",
              ("delinquencyLocator", "invoiceLocator", "accountLocator")),
    EventKind("delinquency.delinquency.settled",
              "A delinquency's invoice was paid: it is settled.",
              ("delinquencyLocator", "invoiceLocator", "accountLocator")),
    EventKind("delinquency.delinquency.lapseTriggered",
              "A delinquency's grace period ended unpaid: its lapse was triggered.",
              ("delinquencyLocator", "invoiceLocator", "accountLocator")),
    EventKind("delinquency.event.fired",
              "A delinquency's configured event reached its trigger time and fired.",
              ("delinquencyLocator", "eventLocator", "jobLocator")),
)

KINDS = {kind.name: kind for kind in CATALOGUE}


def unknown(types: list[str]) -> list[str]:
    """The names among `types` that are not event types."""
    return [name for name in types if name not in KINDS]
