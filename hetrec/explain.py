"""Explanation paths for recommendations, found in the heterograph.

For each recommended item we look for the most telling short path from the user to it:

1. ``user -rates-> item j -attribute-> value <-attribute- recommended item``: the item shares an
   attribute value (author, tag, year, ...) with items the user rated. A path scores
   ``idf(value) * w_best * (1 + log n)``: rarer values (an author rather than a language), higher
   ratings (``w = rating / max rating``) and more of the user's items sharing it score higher.
   One such item -> "same author (J.R.R. Tolkien) as The Hobbit, which you rated 5"; several highly
   rated ones -> "tagged fantasy like The Hobbit and 2 more books you rated highly".
2. ``user -rates-> item j <-rates- other users -rates-> recommended item`` (co-rating) as the fallback
   when no informative value is shared: "12 people who rated X (you: 5) also rated this".

Why sparse products and not graph walks: for K items and the user's R rated items the shared
values are rows of the item x value incidence matrix, so each relation costs one K x V slice and
one R x V product; no loop runs over users, items or edges (only over the K results to format).
Only train edges are in the graph, so every path cites what the model itself saw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from hetrec.graph import relations as R

MIN_IDF = math.log(2.0)  # values held by more than half the catalogue explain nothing
HIGH = 0.8  # a rating >= 80% of the maximum (4 of 5) counts as "rated highly"

PHRASES = {  # relation -> (one rated item, several rated items); {v} value, {t} title, {r} rating, {m} how many more
    "written_by": ("same author ({v}) as {t}, which you rated {r}",
                   "by {v}, like {t} and {m} more {items} you rated{hi}"),
    "has_tag": ("tagged {v} like {t}, which you rated {r}", "tagged {v} like {t} and {m} more {items} you rated{hi}"),
    "in_language": ("in {v} like {t}, which you rated {r}", "in {v} like {t} and {m} more {items} you rated{hi}"),
    "published_in": ("from {v} like {t}, which you rated {r}", "from {v} like {t} and {m} more {items} you rated{hi}"),
}
PRIORITY = {"written_by": 0, "has_tag": 1, "published_in": 3, "in_language": 4}  # equal scores: more specific first
GENERIC = ("{a} {v} like {t}, which you rated {r}", "{a} {v} like {t} and {m} more {items} you rated{hi}")


@dataclass
class Explanation:
    text: str
    kind: str  # attribute | co-rating | none
    relation: str | None = None  # e.g. "book:written_by:author"
    value: str | None = None  # the shared attribute value
    via_item: int | None = None  # raw id of the cited rated item (the best-rated one when several)
    count: int = 0  # rated items sharing the value, or co-raters


def _implicit_phrase(template: str) -> str:
    """The same phrase without ratings: implicit feedback (every rating 1) has nothing "rated highly"."""
    return template.replace("which you rated {r}", "which you interacted with").replace("you rated{hi}",
                                                                                        "you interacted with")


def implicit_feedback(graph, item_type: str) -> bool:
    """True when the train graph holds no rating values besides 1 (clicks, plays, to-read lists)."""
    data = graph.edges[(R.USER, R.RATES, item_type)].data
    return "rating" not in data or bool((data["rating"] == 1).all())


def _fmt_rating(r: float) -> str:
    return str(int(r)) if float(r).is_integer() else f"{r:g}"


def _incidence(graph, etype) -> sp.csr_matrix:
    src, dst = (x.numpy() for x in graph.edges(etype=etype))
    shape = (graph.num_nodes(etype[0]), graph.num_nodes(etype[2]))
    m = sp.csr_matrix((np.ones(len(src), np.float32), (src, dst)), shape=shape)
    m.data[:] = 1.0  # duplicate edges count once
    return m


def user_ratings(graph, item_type: str, user: int) -> tuple[np.ndarray, np.ndarray]:
    """(item node ids, ratings) of the user's train edges; ratings default to 1 without edata."""
    etype = (R.USER, R.RATES, item_type)
    items, eids = (x.numpy() for x in graph.out_edges(user, form="all", etype=etype)[1:])
    data = graph.edges[etype].data
    ratings = data["rating"][eids].numpy().astype(np.float64) if "rating" in data else np.ones(len(items))
    return items, ratings


def explain(artifact, user: int, recommended: np.ndarray) -> list[Explanation]:
    """One explanation per recommended item node id (same order) for user node id ``user``."""
    g, it = artifact.graph, artifact.item_type
    rec = np.asarray(recommended, dtype=np.int64)
    rated, ratings = user_ratings(g, it, user)
    out: list[Explanation | None] = [None] * len(rec)
    if len(rated) == 0 or len(rec) == 0:
        return [Explanation("no rated items to relate it to", "none") for _ in rec]
    top = ratings.max() if ratings.max() > 0 else 1.0
    w = ratings / top
    high = ratings >= HIGH * top
    titles = _titles(artifact)
    implicit = implicit_feedback(g, it)
    best_score = np.full(len(rec), -np.inf)
    best: list[tuple | None] = [None] * len(rec)
    attrs = [e for e in g.canonical_etypes if e[0] == it and e[2] not in (R.USER, it)]
    for etype in sorted(attrs, key=lambda e: PRIORITY.get(e[1], len(PRIORITY) // 2)):  # ties: earlier wins
        inc = _incidence(g, etype)  # items x values
        deg = np.asarray(inc.sum(axis=0)).ravel()
        idf = np.log(g.num_nodes(it) / np.maximum(deg, 1.0))
        a_rec = inc[rec].toarray()  # K x V
        a_rated = inc[rated]  # R x V (sparse)
        n_shared = np.asarray(a_rated.sum(axis=0)).ravel()  # rated items holding each value
        w_best = np.asarray(a_rated.multiply(w[:, None]).max(axis=0).todense()).ravel()
        value_score = np.where((n_shared > 0) & (idf >= MIN_IDF), idf * w_best * (1 + np.log(np.maximum(n_shared, 1))),
                               -np.inf)
        scores = np.where(a_rec > 0, value_score[None, :], -np.inf)  # K x V
        v_best = scores.argmax(axis=1) if scores.shape[1] else np.zeros(len(rec), np.int64)
        s_best = scores[np.arange(len(rec)), v_best] if scores.shape[1] else np.full(len(rec), -np.inf)
        better = s_best > best_score
        best_score = np.where(better, s_best, best_score)
        for k in np.flatnonzero(better):  # over the K results only
            best[k] = (etype, int(v_best[k]), a_rated[:, int(v_best[k])].toarray().ravel() > 0)
    for k, choice in enumerate(best):
        if choice is None:
            continue
        etype, v, holders = choice
        value = str(artifact.id_maps[etype[2]]["raw_id"].to_numpy()[v]) if etype[2] in artifact.id_maps else str(v)
        out[k] = _attribute_text(etype, value, holders, rated, ratings, high, titles, artifact, implicit)
    missing = [k for k, e in enumerate(out) if e is None]
    if missing:
        co = _co_rating(g, it, rec[missing], rated, w, titles, ratings, artifact, implicit)
        for k, e in zip(missing, co):
            out[k] = e
    return out  # type: ignore[return-value]


def _titles(artifact) -> np.ndarray:
    items = artifact.items
    titles = np.array([f"item {i}" for i in range(artifact.num_items)], dtype=object)
    if "title" in items.columns:
        titles[items["node_id"].to_numpy(np.int64)] = items["title"].astype(str).to_numpy()
    return titles


def _raw_item(artifact, node: int) -> int:
    return int(artifact.id_maps[artifact.item_type]["raw_id"].to_numpy()[node])


def _attribute_text(etype, value, holders, rated, ratings, high, titles, artifact,
                    implicit: bool = False) -> Explanation:
    noun = "book" if artifact.item_type == "book" else "item"
    one, many = PHRASES.get(etype[1], GENERIC)
    if implicit:
        one, many = _implicit_phrase(one), _implicit_phrase(many)
    key = R.etype_key(etype)
    # a node type reached through several relations (a KG's shared `entity`) is named by the relation instead
    shared = sum(c[0] == etype[0] and c[2] == etype[2] for c in artifact.graph.canonical_etypes) > 1
    a = etype[1].replace("_", " ") if shared else etype[2]
    n_high = int((holders & high).sum())
    group = holders & high if n_high >= 2 else holders
    j = int(np.flatnonzero(group)[np.argmax(ratings[group])])  # the best-rated holder is named
    title = titles[rated[j]]
    if group.sum() >= 2 and (n_high >= 2 or n_high == 0):
        n = int(group.sum())
        text = many.format(v=value, t=title, m=n - 1, items=noun + ("s" if n > 2 else ""),
                           hi=" highly" if n_high >= 2 else "", a=a)
        return Explanation(text, "attribute", key, value, _raw_item(artifact, int(rated[j])), n)
    text = one.format(t=title, r=_fmt_rating(ratings[j]), v=value, a=a)
    return Explanation(text, "attribute", key, value, _raw_item(artifact, int(rated[j])), 1)


def _co_rating(g, it, rec, rated, w, titles, ratings, artifact, implicit: bool = False) -> list[Explanation]:
    """Fallback path through other users: co-raters of each recommended item and each rated item."""
    b = _incidence(g, (R.USER, R.RATES, it)).tocsc()  # users x items
    co = (b[:, rec].T @ b[:, rated]).toarray()  # K x R: users who rated both
    score = co * w[None, :]
    out = []
    for k in range(len(rec)):
        j = int(score[k].argmax())
        if co[k, j] == 0:
            out.append(Explanation("no short path to your ratings (recommended from overall patterns)", "none"))
            continue
        n = int(co[k, j])
        people = "person" if n == 1 else "people"
        text = (f"{n} {people} who interacted with {titles[rated[j]]} also interacted with this" if implicit else
                f"{n} {people} who rated {titles[rated[j]]} (you: {_fmt_rating(ratings[j])}) also rated this")
        out.append(Explanation(text, "co-rating", R.etype_key((R.USER, R.RATES, it)), None,
                               _raw_item(artifact, int(rated[j])), n))
    return out
