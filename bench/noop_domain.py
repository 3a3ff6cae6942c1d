"""A domain with one no-op job kind, loaded by `policyjobs worker` via POLICYJOBS_PLUGINS.

The handler records nothing and returns None: every microsecond a worker spends on a
`bench.noop` job is the engine's own (claim, dispatch, record), which is what the engine
benchmark measures. Enqueue→start latency comes from the engine's own bookkeeping
(`started_at - created_at` in the jobs table), so the handler reports nothing either.
"""

from __future__ import annotations

from policyjobs.domain import Domain
from policyjobs.engine import JobContext, JobKind

KIND = "bench.noop"


def noop(context: JobContext) -> None:
    """Do nothing."""
    del context


domain = Domain(name="bench", kinds=[JobKind(KIND, noop)])
