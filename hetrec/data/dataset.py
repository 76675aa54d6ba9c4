"""The validated, in-memory form every loader returns and nothing downstream re-parses.

Loaders (``goodbooks.py``, ``tables.py``) turn files into a :class:`Dataset`; the
split and the graph builder read only this. Raw ids stay raw here (int64 for users
and items, strings for attribute values); node ids are assigned by the graph builder.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Attribute:
    """One kind of side information, which becomes one node type and a relation pair.

    ``table`` has columns ``id`` (int64 raw id of the owner: an item or a user),
    ``value`` (str: author name, tag name, language code, year bin, age band ...)
    and ``weight`` (float32; 1.0 unless the source has one, e.g. a tag's count).
    Example: ``Attribute("author", "written_by", "wrote", "item", table)`` makes
    node type ``author`` and relations ``(book, written_by, author)``, ``(author, wrote, book)``.
    """

    node_type: str
    relation: str
    reverse: str
    owner: str  # "item" or "user"
    table: pd.DataFrame


@dataclass
class Dataset:
    """Interactions plus side information, validated.

    interactions: ``user_id`` int64, ``item_id`` int64, ``rating`` float32, ``order`` int64
        (time order: a timestamp, or the file row when the file is in time order);
        no duplicate (user, item) pairs (loaders keep the last and count the rest).
    items: ``item_id`` int64 (every item of the catalogue, also unrated ones), ``title`` str,
        and any display columns (e.g. ``authors``).
    users: ``user_id`` int64 of every known user (rated or not).
    attributes: side-information relations, see :class:`Attribute`.
    behaviours: extra user->item behaviours by relation name, e.g. ``{"to_read": df[user_id, item_id]}``.
    item_type: node type name of items (``book`` for Goodbooks, ``item`` for generic tables).
    timed: whether ``order`` is meaningful (else a split must be random holdout).
    sources: input file name -> content fingerprint, for manifests.
    stats: loader notes for the report, e.g. ``{"duplicates_dropped": 3}`` (JSON values).
    given_split: the split a dataset is published with (``user_id, item_id, part``; e.g. KGAT's
        train.txt/test.txt), used by ``--split given`` when no ``--split-file`` is passed;
        ``given_source`` names its file(s) for error messages (row = index + 2).
    """

    name: str
    item_type: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    attributes: list[Attribute] = field(default_factory=list)
    behaviours: dict[str, pd.DataFrame] = field(default_factory=dict)
    timed: bool = True
    sources: dict[str, str] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    given_split: pd.DataFrame | None = None
    given_source: str = ""
