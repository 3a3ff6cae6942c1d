"""Exceptions the engine raises, and the ones a handler raises to stop retries, under the
service's root (`policyjobs.exceptions`, the one module outside itself the engine imports).

    PolicyjobsError
     └── EngineError
          ├── UnknownJobKind
          ├── PermanentJobError   (raised by handlers: fail now, do not retry)
          └── Postpone            (raised by handlers: put the job back, not as a failure)
"""

from __future__ import annotations

from datetime import datetime

from policyjobs.exceptions import PolicyjobsError


class EngineError(PolicyjobsError):
    """Root of the engine's exceptions."""


class UnknownJobKind(EngineError):
    """A job names a kind that no handler is registered for."""


class PermanentJobError(EngineError):
    """Raised by a handler when retrying cannot help; the job fails at once."""


class Postpone(EngineError):
    """Raised by a handler to give its job back to the queue until `until`, or until requeued.

    The attempt is recorded with `reason` in the job's errors, but it is not a
    failure: no backoff and no retry limit apply. A job postponed with no `until`
    waits, still unfinished, for `JobQueue.requeue`.
    """

    def __init__(self, reason: str, until: datetime | None = None) -> None:
        super().__init__(reason)
        self.until = until
