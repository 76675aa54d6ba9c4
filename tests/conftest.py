"""Suite-wide fixtures. ``shared_data`` locates ../shared/data (see tests/shared_data.py: skip when absent,
fail under HETREC_REQUIRE_SHARED_DATA=1). tests/ goes on sys.path so that tests/gpu_helpers.py and
tests/shared_data.py import from every test folder (they have no __init__.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared_data import require_shared  # noqa: E402


@pytest.fixture(scope="session")
def shared_data():
    """``shared_data("ml-100k", "ratings.csv")`` -> the path, or skip/fail as :func:`require_shared` says."""
    return require_shared
