"""Closed-form and training-free item–item recommenders: the fast peers every GNN must be measured against.

Each method turns the binary train matrix X [users x items] (and, for the content methods, the item side
matrix S [items x attribute/KG nodes]) into an item–item weight matrix W [items x items]; a user's scores are
``x_u @ W``, with ``x_u`` the user's train row (:class:`ItemItemScorer`). Methods:

- ``ease``: EASE (Steck, WWW 2019). ``P = (XᵀX + λI)⁻¹``, ``W = I − P·diag(1/diag(P))`` (zero diagonal).
- ``itemknn``: item-based kNN with cosine similarity ``G_ij / (sqrt(G_ii G_jj) + shrink)`` of ``G = XᵀX``, each
  item's column keeping its ``k`` most similar items (Sarwar et al. 2001; RecBole's ItemKNN).
- ``gfcf``: GF-CF (Shen et al., CIKM 2021). ``R = D_u^-1/2 X D_i^-1/2``, linear filter ``RᵀR`` plus ``α`` times
  the ideal low-pass filter ``D_i^-1/2 V Vᵀ D_i^1/2`` from the top-``rank`` right singular vectors V of R
  (taken from the eigenvectors of ``RᵀR``, which are exact and deterministic).
- ``attrknn``: content-only kNN. Items are IDF-weighted, L2-normalised rows ``Ŝ`` of S; a user's profile is the
  sum of their train items' rows and items are scored by ``profile · ŝ_j`` (cosine up to a per-user constant),
  i.e. ``W = Ŝ Ŝᵀ``. It scores items nobody has rated.
- ``ease-si``: EASE with side information (Jeunen, Van Balen and Goethals, RecSys 2020): the regression runs on
  X stacked with the weighted side rows, so ``G = XᵀX + β ŜŜᵀ``; items without interactions get weights
  through their attributes and are scored.

The dense methods need I x I matrices; they refuse catalogues above ``MAX_DENSE_ITEMS`` with one line, while
``itemknn`` builds its columns in blocks and stores a sparse W. Arithmetic is float64 on CPU (float32 on GPU),
so a fit is deterministic.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import Tensor

from hetrec.sampler.bpr import InteractionIndex

__all__ = ["METHODS", "COLD_CAPABLE", "MAX_DENSE_ITEMS", "ItemItemScorer", "grid", "fit_weights",
           "ease", "itemknn", "gfcf", "attrknn", "ease_si", "gram", "content_rows"]

MAX_DENSE_ITEMS = 20_000  # I x I float64: 3.2 GB at this size
METHODS = ("ease", "itemknn", "gfcf", "attrknn", "ease-si")
COLD_CAPABLE = ("attrknn", "ease-si")  # methods whose weights reach items without train interactions


def _dtype(device: torch.device) -> torch.dtype:
    return torch.float64 if device.type == "cpu" else torch.float32


def check_dense(num_items: int, method: str) -> None:
    if num_items > MAX_DENSE_ITEMS:
        gb = num_items ** 2 * 8 / 1e9
        raise ValueError(f"{method} needs a dense {num_items:,} x {num_items:,} item matrix ({gb:.1f} GB), above the "
                         f"limit of {MAX_DENSE_ITEMS:,} items; use --model itemknn for catalogues this large")


def gram(x: Tensor) -> Tensor:
    """Dense ``XᵀX`` [I, I] of a sparse X, in float64 on CPU (float32 on GPU)."""
    dt = _dtype(x.device)
    xs = x.coalesce().to(dt)
    return torch.sparse.mm(xs.t().coalesce(), xs).to_dense()


def ease(g: Tensor, lam: float) -> Tensor:
    """EASE weights from the Gram matrix ``g`` and L2 weight ``lam`` > 0 (zero diagonal)."""
    if lam <= 0:
        raise ValueError(f"EASE needs lambda > 0, got {lam}")
    a = g.clone()
    a.diagonal().add_(lam)
    p = torch.cholesky_inverse(torch.linalg.cholesky(a))
    w = -p / p.diagonal()[None, :]
    w.diagonal().zero_()
    return w


def itemknn(x: Tensor, k: int, shrink: float = 0.0, block: int = 2048) -> Tensor:
    """Sparse cosine kNN weights [I, I]: column j holds j's ``k`` most similar other items (positive only)."""
    if k < 1:
        raise ValueError(f"itemknn needs k >= 1, got {k}")
    dt = _dtype(x.device)
    xs = x.coalesce().to(dt)
    n_items = xs.shape[1]
    xt = xs.t().coalesce()
    norm = torch.sqrt(torch.sparse.sum(xs, 0).to_dense())  # binary X: ||x_i|| = sqrt(count_i)
    k = min(k, n_items - 1) if n_items > 1 else 1
    rows, cols, vals = [], [], []
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        cols_dense = torch.index_select(xs, 1, torch.arange(start, stop, device=xs.device)).to_dense()
        sim = torch.sparse.mm(xt, cols_dense)  # [I, b] co-occurrence counts
        sim = sim / (norm[:, None] * norm[None, start:stop] + shrink).clamp_min(1e-12)
        sim[torch.arange(start, stop), torch.arange(stop - start)] = 0.0  # no self-similarity
        val, idx = torch.topk(sim, k, dim=0)
        keep = val > 0
        c = torch.arange(start, stop, device=sim.device).expand_as(idx)
        rows.append(idx[keep])
        cols.append(c[keep])
        vals.append(val[keep])
    ind = torch.stack([torch.cat(rows), torch.cat(cols)])
    return torch.sparse_coo_tensor(ind, torch.cat(vals), (n_items, n_items), check_invariants=False).coalesce()


def gfcf_parts(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(RᵀR, eigenvectors of RᵀR by descending eigenvalue, d_i)`` for :func:`gfcf`."""
    dt = _dtype(x.device)
    xs = x.coalesce().to(dt)
    du = torch.sparse.sum(xs, 1).to_dense()
    di = torch.sparse.sum(xs, 0).to_dense()
    inv_u = torch.where(du > 0, du.rsqrt(), torch.zeros_like(du))
    inv_i = torch.where(di > 0, di.rsqrt(), torch.zeros_like(di))
    i, v = xs.indices(), xs.values()
    r = torch.sparse_coo_tensor(i, v * inv_u[i[0]] * inv_i[i[1]], xs.shape, check_invariants=False).coalesce()
    lin = torch.sparse.mm(r.t().coalesce(), r).to_dense()
    _, vecs = torch.linalg.eigh(lin)
    return lin, vecs.flip(1), di


def gfcf(parts: tuple[Tensor, Tensor, Tensor], alpha: float, rank: int) -> Tensor:
    """GF-CF weights ``RᵀR + alpha * D_i^-1/2 V_r V_rᵀ D_i^1/2`` from :func:`gfcf_parts`."""
    lin, vecs, di = parts
    if alpha == 0:
        return lin.clone()
    v = vecs[:, :rank]
    inv = torch.where(di > 0, di.rsqrt(), torch.zeros_like(di))
    return lin + alpha * (inv[:, None] * v) @ (v.T * di.sqrt()[None, :])


def content_rows(s: Tensor) -> Tensor:
    """IDF-weighted, L2-normalised item rows Ŝ (dense [I, V]) of the binary side matrix S."""
    dt = _dtype(s.device)
    dense = s.to_dense().to(dt)
    df = dense.sum(0)
    idf = torch.where(df > 0, torch.log(dense.shape[0] / df.clamp_min(1)), torch.zeros_like(df))
    rows = dense * idf[None, :]
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)


def attrknn(content: Tensor) -> Tensor:
    """Content kNN weights ``Ŝ Ŝᵀ`` from :func:`content_rows` output."""
    return content @ content.T


def ease_si(g: Tensor, content_gram: Tensor, lam: float, beta: float) -> Tensor:
    """EASE over X stacked with ``sqrt(beta)`` times the side rows: Gram ``XᵀX + beta ŜŜᵀ``."""
    return ease(g + beta * content_gram, lam)


class ItemItemScorer:
    """Scores ``x_u @ W`` for a chunk of users, ``x_u`` their binary train row (dense W or sparse COO W).

    A callable for :func:`hetrec.evaluator.rank.evaluate`; ``fresh_scores`` says its output may be written to.
    """

    fresh_scores = True

    def __init__(self, profile: InteractionIndex, weights: Tensor) -> None:
        if weights.shape != (profile.num_items, profile.num_items):
            raise ValueError(f"weights must be [{profile.num_items}, {profile.num_items}], got {tuple(weights.shape)}")
        self.profile, self.weights = profile.to(weights.device), weights
        self.sparse_t = weights.t().coalesce().to(torch.float32) if weights.is_sparse else None
        self.dense = None if weights.is_sparse else weights.to(torch.float32)

    def to(self, device: torch.device | str) -> "ItemItemScorer":
        return ItemItemScorer(self.profile, self.weights.to(device))

    def __call__(self, users: Tensor) -> Tensor:
        users = users.to(self.weights.device)
        pos, items = self.profile.rows_of(users)
        x = torch.zeros(users.numel(), self.profile.num_items, device=self.weights.device)
        x[pos, items] = 1.0
        if self.dense is not None:
            return x @ self.dense
        return torch.sparse.mm(self.sparse_t, x.T).T.contiguous()


def grid(method: str, num_users: int, num_items: int) -> list[dict]:
    """The small hyperparameter grid searched on validation NDCG@10 (recorded in the run's manifest)."""
    if method == "ease":
        return [{"lam": lam} for lam in (1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0)]
    if method == "itemknn":
        return [{"k": k} for k in (5, 10, 20, 50, 100, 200)]
    if method == "gfcf":
        ranks = sorted({min(r, num_items - 1, num_users) for r in (32, 64, 128, 256)})
        return [{"alpha": 0.0, "rank": 0}] + [{"alpha": a, "rank": r} for a in (0.1, 0.3, 1.0) for r in ranks]
    if method == "attrknn":
        return [{}]
    if method == "ease-si":
        return [{"lam": lam, "beta": b} for lam in (10.0, 50.0, 100.0, 250.0, 500.0) for b in (1.0, 10.0, 100.0)]
    raise ValueError(f"unknown closed-form method {method!r}; use one of {METHODS}")


def fit_weights(method: str, x: Tensor, side: Tensor | None = None) -> Iterator[tuple[dict, Callable[[], Tensor]]]:
    """Yield ``(params, make_weights)`` over the method's grid, sharing the expensive parts between points.

    x: binary sparse train matrix [U, I]; side: binary sparse item side matrix [I, V] (``attrknn``, ``ease_si``).
    Raises ``ValueError`` for a catalogue too large for a dense method or missing side information.
    """
    num_users, num_items = x.shape
    if method in ("attrknn", "ease-si") and side is None:
        raise ValueError(f"{method} needs item side information (attribute or KG relations) in the graph")
    if method != "itemknn":
        check_dense(num_items, method)
    points = grid(method, num_users, num_items)
    if method == "itemknn":
        for p in points:
            yield p, (lambda p=p: itemknn(x, p["k"]))
        return
    if method == "gfcf":
        parts = gfcf_parts(x)
        for p in points:
            yield p, (lambda p=p: gfcf(parts, p["alpha"], p["rank"]))
        return
    if method == "attrknn":
        yield {}, lambda: attrknn(content_rows(side))
        return
    g = gram(x)
    if method == "ease":
        for p in points:
            yield p, (lambda p=p: ease(g, p["lam"]))
        return
    c = content_rows(side)
    cg = c @ c.T
    for p in points:
        yield p, (lambda p=p: ease_si(g, cg, p["lam"], p["beta"]))
