"""Data layer: loaders (files -> :class:`Dataset`), the split, and synthetic Goodbooks.

``load_dataset(kind, path, **opts)`` picks a loader by short name from ``LOADERS``.
"""
from __future__ import annotations

import os

from hetrec.data.dataset import Attribute, Dataset

LOADERS = ("goodbooks", "ml100k", "tables")


def load_dataset(kind: str, path: str | os.PathLike, **opts) -> Dataset:
    """``goodbooks`` -> load_goodbooks(path, **opts); ``ml100k`` -> load_tables(path, ML100K_SPEC);
    ``tables`` -> load_tables(path, spec=opts["spec"])."""
    from hetrec.data.goodbooks import load_goodbooks
    from hetrec.data.tables import ML100K_SPEC, load_tables

    if kind == "goodbooks":
        return load_goodbooks(path, **opts)
    if kind == "ml100k":
        return load_tables(path, opts.pop("spec", ML100K_SPEC), **opts)
    if kind == "tables":
        return load_tables(path, **opts)
    raise ValueError(f"unknown dataset kind {kind!r}; use one of {LOADERS}")


__all__ = ["Attribute", "Dataset", "LOADERS", "load_dataset"]
