"""A stand-in heavy transform for tests/unit/test_isolation.py, run through the isolation entrypoint."""

from __future__ import annotations

import json
import os
from pathlib import Path


def score(**payload: str) -> dict[str, str]:
    """Write the payload where the test can read it (or fail on request) to prove what the child received."""
    if os.environ.get("HEAVY_SAMPLE_FAIL"):
        raise RuntimeError(f"sample failure for {payload['tenant_id']}")
    if out := os.environ.get("HEAVY_SAMPLE_OUT"):
        Path(out).write_text(json.dumps(payload))
    return payload
