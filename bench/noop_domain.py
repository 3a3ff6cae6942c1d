"""The benchmark's job kinds, loaded by `policyjobs worker` via POLICYJOBS_PLUGINS.

`bench.noop` records nothing and returns None: every microsecond a worker spends on one
is the engine's own (claim, dispatch, record), which the throughput runs measure.
`bench.stamp` is the same job, but its handler first writes how long ago the benchmark
called enqueue (`payload["sent"]`, a wall time): the latency runs read those stamps.
"""

from __future__ import annotations

from bench.stamps import stamp
from policyjobs.domain import Domain
from policyjobs.engine import JobContext, JobKind

KIND = "bench.noop"
STAMP = "bench.stamp"


def noop(context: JobContext) -> None:
    """Do nothing."""
    del context


def stamped(context: JobContext) -> None:
    """Note when this handler started, then do nothing."""
    stamp(context.job.payload["sent"])


domain = Domain(name="bench", kinds=[JobKind(KIND, noop), JobKind(STAMP, stamped)])
