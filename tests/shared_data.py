"""Where the shared real datasets live, and what to do when they are absent (imported by tests as ``shared_data``).

The real datasets (ML-100K, Goodbooks-10k) sit beside the checkout in ``../shared/data``. Locally a test that
needs one is skipped when it is missing; with ``HETREC_REQUIRE_SHARED_DATA=1`` (set by ``.ci/run``) it fails
instead, so CI can never pass by silently skipping the real-data checks.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REQUIRE = "HETREC_REQUIRE_SHARED_DATA"


def require_shared(*parts: str) -> Path:
    """``../shared/data/<parts>``; skip the test when it is missing, or fail under ``HETREC_REQUIRE_SHARED_DATA=1``."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        what = f"../shared/data/{'/'.join(parts)} not present ({path})"
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{what}; {REQUIRE}=1 requires it")
        pytest.skip(what)
    return path
