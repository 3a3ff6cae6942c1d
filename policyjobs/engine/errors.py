"""Exceptions the engine raises, and the one a handler raises to stop retries.

    EngineError
     ├── UnknownJobKind
     └── PermanentJobError   (raised by handlers: fail now, do not retry)
"""


class EngineError(Exception):
    """Root of the engine's exceptions."""


class UnknownJobKind(EngineError):
    """A job names a kind that no handler is registered for."""


class PermanentJobError(EngineError):
    """Raised by a handler when retrying cannot help; the job fails at once."""
