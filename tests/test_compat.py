"""hetrec._compat: registers the GraphBolt placeholder only when needed, and import stays silent."""
import subprocess
import sys
import types

import pytest

import hetrec  # noqa: F401
from hetrec import _compat


@pytest.fixture
def fresh_modules(monkeypatch):
    """sys.modules without dgl, restored afterwards (monkeypatch undoes the deletions)."""
    for name in [m for m in sys.modules if m == "dgl" or m.startswith("dgl.")]:
        monkeypatch.delitem(sys.modules, name)
    return monkeypatch


def test_noop_when_dgl_already_imported(monkeypatch):
    sentinel = types.ModuleType("dgl.graphbolt")
    monkeypatch.setitem(sys.modules, "dgl", types.ModuleType("dgl"))
    monkeypatch.setitem(sys.modules, "dgl.graphbolt", sentinel)
    monkeypatch.setattr(_compat, "graphbolt_available", lambda: False)
    _compat.install()
    assert sys.modules["dgl.graphbolt"] is sentinel


def test_noop_when_graphbolt_library_exists(fresh_modules):
    fresh_modules.setattr(_compat, "graphbolt_available", lambda: True)
    _compat.install()
    assert "dgl.graphbolt" not in sys.modules


def test_registers_placeholder_otherwise(fresh_modules):
    fresh_modules.setattr(_compat, "graphbolt_available", lambda: False)
    _compat.install()
    mod = sys.modules["dgl.graphbolt"]
    assert getattr(mod, "HETREC_PLACEHOLDER", False) and mod.__path__ == []
    _compat.install()  # idempotent
    assert sys.modules["dgl.graphbolt"] is mod


def test_graphbolt_available_matches_files():
    import os

    import dgl
    import torch

    d = os.path.join(os.path.dirname(dgl.__file__), "graphbolt")
    lib = f"libgraphbolt_pytorch_{torch.__version__.split('+')[0]}.so"
    assert _compat.graphbolt_available() == os.path.exists(os.path.join(d, lib))


def test_import_is_silent_and_dgl_works():
    code = ("import hetrec, dgl, torch; "
            "g = dgl.heterograph({('user', 'rates', 'book'): (torch.tensor([0]), torch.tensor([1]))}); "
            "assert g.num_nodes('book') == 2")
    for snippet in ("import hetrec", code):
        r = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "" and r.stderr == ""
