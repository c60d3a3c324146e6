"""When a failed delivery is tried again: 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, then every
12 h, until more than three days passed since the first attempt (12 attempts, ~77 h).
Like Stripe's schedule: an endpoint down for a weekend still gets every event."""
from __future__ import annotations

from datetime import timedelta

DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
          timedelta(hours=5), timedelta(hours=10))
CAP = timedelta(hours=12)
#: attempts in all (the first and the retries); the last retry comes more than 3 days in
MAX_ATTEMPTS = 12


def next_delay(attempts_made: int) -> timedelta | None:
    """The wait before the next attempt after ``attempts_made`` failed ones, or None: give up."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    return DELAYS[attempts_made - 1] if 1 <= attempts_made <= len(DELAYS) else CAP


def total_span() -> timedelta:
    """From the first attempt to the last."""
    return sum((next_delay(n) or timedelta(0) for n in range(1, MAX_ATTEMPTS)), timedelta(0))
