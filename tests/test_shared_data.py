"""The one place tests find ../shared/data: skipped locally when absent, a failure under HETREC_REQUIRE_SHARED_DATA=1."""
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
def test_needs_missing(shared_data):
    shared_data("no-such-dataset-xyz")
"""


@pytest.mark.parametrize("env, outcome", [({}, "1 skipped"), ({"HETREC_REQUIRE_SHARED_DATA": "1"}, "1 failed")])
def test_missing_shared_data_skips_or_fails(tmp_path, env, outcome):
    import os

    tests = Path(__file__).resolve().parent
    (tmp_path / "test_probe.py").write_text(PROBE)
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                          "--confcutdir", str(tests), "-c", "/dev/null", str(tmp_path / "test_probe.py")],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**{k: v for k, v in os.environ.items() if k != "HETREC_REQUIRE_SHARED_DATA"},
                              "PYTHONPATH": str(tests), **env, "PYTEST_PLUGINS": "conftest"})
    assert outcome in res.stdout, res.stdout + res.stderr
