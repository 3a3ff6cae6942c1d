"""When a failed delivery is tried again, and when an endpoint is given up on.

The schedule is Svix's, which integrators know: the first attempt at once, then after 5 s,
5 min, 30 min, 2 h, 5 h, 10 h and 10 h (each jittered by up to a tenth either way, so that
an endpoint back from an outage is not hit by every retry at once): eight attempts over
about 28 hours. An endpoint whose every attempt has failed for 5 days is disabled, and
says so, until its owner enables it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

DELAYS = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
          timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
ATTEMPTS = len(DELAYS) + 1
GIVE_UP_AFTER = timedelta(days=5)


def gives_up(failing_since: datetime, now: datetime) -> bool:
    """Whether an endpoint failing since `failing_since` is to be disabled at `now`."""
    return now - failing_since >= GIVE_UP_AFTER
