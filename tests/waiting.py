"""Deadlines for tests that wait on real processes: they grow with the machine's load.

The suite must pass at a load average of ~10 on 2 cores (stress-ng beside it): a fixed clock that holds on a
quiet machine gives up there while the work is still progressing.
"""

from __future__ import annotations

import os


def patience(seconds: float) -> float:
    """`seconds` on a quiet machine, scaled up by the 1-minute load average over 4."""
    return seconds * max(1.0, os.getloadavg()[0] / 4)
