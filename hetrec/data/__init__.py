"""Data layer: loaders (files -> :class:`Dataset`), the split, and synthetic Goodbooks.

Loaders: ``goodbooks.load_goodbooks`` (the real Goodbooks-10k formats, or ``hetrec synth`` output) and
``tables.load_tables`` (generic ratings/items/users tables, with the ML-100K preset) and ``kg.load_kg``
(KGCN/KGAT knowledge-graph layouts). The build-graph stage
picks one by name (``hetrec.stages.build_graph.LOADERS``).
"""
from hetrec.data.dataset import Attribute, Dataset

__all__ = ["Attribute", "Dataset"]
