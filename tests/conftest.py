"""Suite-wide fixtures. ``shared_data`` locates ../shared/data (see tests/shared_data.py: skip when absent,
fail under HETREC_REQUIRE_SHARED_DATA=1)."""
from __future__ import annotations

import pytest

from shared_data import require_shared


@pytest.fixture(scope="session")
def shared_data():
    """``shared_data("ml-100k", "ratings.csv")`` -> the path, or skip/fail as :func:`require_shared` says."""
    return require_shared
