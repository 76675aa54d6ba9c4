"""Finding ../shared/data: a test skips when a dataset is absent, unless HETREC_REQUIRE_SHARED_DATA=1
(set on machines that have the data, so a moved folder fails loudly instead of silently skipping)."""
import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def shared_data():
    """``shared_data("lastfm-kg")`` -> the directory, or skip (fail under HETREC_REQUIRE_SHARED_DATA=1)."""
    def get(name: str) -> Path:
        d = SHARED / name
        if not d.is_dir():
            if os.environ.get("HETREC_REQUIRE_SHARED_DATA") == "1":
                pytest.fail(f"{d} not found and HETREC_REQUIRE_SHARED_DATA=1")
            pytest.skip(f"{d} not present")
        return d
    return get
