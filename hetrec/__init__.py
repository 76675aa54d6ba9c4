"""hetrec: relation-aware GNN recommendation on DGL heterographs.

Data -> graph -> sampler -> model -> trainer -> evaluator; ``stages`` wires them
into the CLI commands. ``_compat`` runs first so that ``import dgl`` works on a
current torch (see its docstring).
"""
from hetrec import _compat

_compat.install()

from hetrec.errors import HetrecError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["HetrecError", "__version__"]
