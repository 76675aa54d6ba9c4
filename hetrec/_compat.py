"""Make ``import dgl`` (2.1.0, the only Linux DGL on PyPI) work on a current torch.

Why: DGL 2.1.0 ships its GraphBolt C++ library only for torch 2.0.0-2.2.1, and
``dgl/__init__.py`` imports ``dgl.distributed`` which imports ``dgl.graphbolt``,
which loads that library (and ``torchdata.datapipes``, gone from torchdata 0.10).
On any other torch ``import dgl`` therefore fails, although everything hetrec uses
(heterographs, ``save_graphs``, neighbor samplers, blocks, ``HeteroGraphConv``)
never touches GraphBolt. ``dgl.utils`` also falls back to
``setuptools.extern.packaging``, which setuptools >= 71 removed.

``install()`` must run before the first ``import dgl``; ``hetrec/__init__.py``
calls it. It changes nothing when DGL's GraphBolt library for the running torch
exists (then ``dgl.graphbolt`` imports for real) and never edits site-packages:
it only registers modules in ``sys.modules``.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types

__all__ = ["install", "graphbolt_available"]

_PLACEHOLDER_DOC = (
    "Placeholder registered by hetrec._compat: DGL's GraphBolt library is not built "
    "for this torch version, and hetrec does not use GraphBolt."
)


def graphbolt_available() -> bool:
    """True when DGL ships a GraphBolt library for the running torch version."""
    import torch

    spec = importlib.util.find_spec("dgl")
    if spec is None or not spec.submodule_search_locations:
        return False
    version = torch.__version__.split("+", maxsplit=1)[0]
    lib = os.path.join(
        list(spec.submodule_search_locations)[0],
        "graphbolt",
        f"libgraphbolt_pytorch_{version}.so",
    )
    return os.path.exists(lib)


def _alias_setuptools_packaging() -> None:
    try:
        import setuptools.extern.packaging  # noqa: F401  (old setuptools: nothing to do)
        return
    except ImportError:
        pass
    try:
        import packaging
        import packaging.version
    except ImportError:  # dgl.utils imports `packaging` first; nothing we can add
        return
    sys.modules.setdefault("setuptools.extern.packaging", packaging)
    sys.modules.setdefault("setuptools.extern.packaging.version", packaging.version)


def _register_graphbolt_placeholder() -> None:
    if "dgl.graphbolt" in sys.modules or graphbolt_available():
        return
    placeholder = types.ModuleType("dgl.graphbolt", _PLACEHOLDER_DOC)
    placeholder.__path__ = []  # a package, so `from dgl.graphbolt import x` fails cleanly
    placeholder.HETREC_PLACEHOLDER = True
    sys.modules["dgl.graphbolt"] = placeholder


def _quiet_backend() -> None:
    # DGL prints "Setting the default backend ..." when it writes ~/.dgl/config.json.
    os.environ.setdefault("DGLBACKEND", "pytorch")


def install() -> None:
    """Prepare the interpreter so that ``import dgl`` works; idempotent."""
    if "dgl" in sys.modules:
        return
    _quiet_backend()
    _alias_setuptools_packaging()
    _register_graphbolt_placeholder()
