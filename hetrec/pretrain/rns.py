"""Reinforced Neighbor Sampler (RAM-GNN): same-value neighbour sampling through attribute-value nodes,
per-relation top-k filtering by similarity, and the bandit that moves each relation's threshold.

Why two hops and never the item–item graph: one Goodbooks tag is shared by thousands of books, so the
dense same-value graph has billions of pairs. We sample item -> value -> item on sorted CSR arrays,
vectorised over all owners at once.

Readings of the paper (documented choices):
- Sampling: for owner i and relation r, each of the k draws picks one of i's values uniformly (among values
  with another member), then one other member of that value uniformly; draws are with replacement and the
  model collapses repeated (i, value, j) draws into one edge.
- Threshold t_r ∈ [ε, 1] is the fraction of i's valid sampled neighbours kept, ranked by similarity: the
  round(t_r · n) most similar of i's n draws (half up), so a low threshold keeps *none* of a relation's draws.
  Initial t_r = 0.5 (as CARE-GNN's neighbour selector starts). Why rounding and no floor of one (the previous
  rule kept ceil(t_r · n) ≥ 1): with k = 4 draws, ceil keeps 1 of 4 for every t_r ≤ 0.25, so even a threshold at
  ε left a pure-noise relation a quarter of its draws in every owner's aggregation. Measured on a uniformly
  sparse variant of the planted graph of tests/pretrain/test_rns_planted.py (96 items, 160 users × 4 ratings,
  seeds 0-3, similarity loss still on the embeddings), thresholds fixed at genre 1 / noise ε: mean val NDCG@10
  0.151 with that floor vs 0.157 with rounding (no filtering 0.142; graph without the noise relation 0.175).
  The bandit's reward is still measured on at least one kept draw per owner (``at_least_one``), so a relation
  switched off keeps being judged and can come back.
- Bandit (one per relation, once per epoch): t_r += ε on reward +1, −ε on −1, clipped to [ε, 1]. "Frozen when
  the last 10 rewards sum ≤ ε" is read as |Σ last 10 rewards| ≤ ε: with ±1 rewards that means as many rises as
  falls, i.e. the threshold oscillates around its fixed point (converged); the first epoch only records (the
  embeddings are untrained, so its comparison is noise).
- Reward, normalised per relation (a departure from the paper's reading; why below): each epoch, relation r's
  kept neighbours' average distance D_r is compared with its *chance* distance C_r: the same top-t_r filter
  applied to the same draws relabelled by a random permutation of the owners (:func:`shuffled_neighbours`: the
  relation with its values reassigned at random; same owners, draws, repeats and threshold).
  The ratio ρ_r = D_r / C_r is the relation's average neighbour distance relative to chance. The reward asks
  whether r is *significantly* closer than chance: per owner, Δ_i = (chance mean − kept mean distance), and
  z_r = mean(Δ) / (std(Δ) / √n) (:func:`paired_evidence`); reward +1 when z_r > z_min = 1 (the relation
  carries signal, keep more), else −1 (keep fewer). See :meth:`ThresholdBandit.step`.

  Why a significance margin and not the sign of ρ_r − 1 (the previous rule): for a pure-noise relation ρ_r
  fluctuates around 1, so the sign was a fair coin: the noise threshold did a zero-drift walk, the window rule
  froze it near its start (0.5: 2 of 4 draws still kept), and filtering could never remove the noise. With
  z > 1 a relation at chance gets +1 only ~16% of the time (expected move −0.68 ε per epoch), so its
  threshold falls until the relation is switched off, while an informative relation (z of 3-7 once BPR has
  shaped the embeddings) climbs; a relation has to earn its neighbours.

  Why not "the average kept distance fell since the last epoch" (the previous rule): that signal follows the
  global embedding drift, not the relation. BPR and the similarity loss rescale the whole projection space
  together (on a planted 48-item graph every relation's average distance grew ~60x over 20 epochs, 0.09 -> 6),
  so every relation received the same −1 sequence and all thresholds moved in lockstep, informative or not.
  Normalising by a same-epoch baseline cancels the drift. Two same-epoch baselines were measured and rejected:
  (a) kept / unfiltered distance of the same relation, rewarded when it falls: dominated by the bandit's own
  move (t up keeps farther neighbours -> the ratio rises -> −1 -> t down -> +1 ...), so every relation
  oscillated at 0.5 and froze after 10 epochs; (b) unfiltered / random-pair distance rewarded when it falls
  since the last epoch: a relation's homophily changes by less per epoch than its sampling noise, so rewards were
  coin flips and the window rule froze thresholds near 0.5. Comparing with chance filtered by the same
  threshold removes both the drift and the threshold's mechanical effect: an informative relation's threshold
  climbs, a noise relation's falls (tests/pretrain/test_rns_planted.py: genre 0.98 vs noise 0.10 on average).
  Known limit: the signal exists only once training has shaped the projection; until then no relation is
  significantly closer than chance, every threshold falls, and an informative relation climbs back only once
  it is (on a graph whose embeddings barely separate its values, e.g. ~2 raters per item, it may not).

  The similarity loss (hetrec/pretrain/ramgnn.py) trains the similarity MLP only, on detached ID embeddings.
  Why: its positives are every relation's same-value draws, noise relations included. Trained into the
  embeddings, it pulls items that share a noise value together, so (a) the reward, measured in that space, is
  biased in favour of a noise relation (ρ ≈ 0.93 for the planted noise relation with the loss on the
  embeddings vs ≈ 1.0 with it off, seed 0), which no threshold can undo, and (b) the noise is written into the
  embeddings BPR scores whatever the threshold keeps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["ValueIndex", "value_index", "sample_same_value", "shuffled_neighbours", "keep_count", "keep_top",
           "keep_top_grouped", "paired_evidence", "ThresholdBandit"]


@dataclass(frozen=True)
class ValueIndex:
    """Owner <-> value structure of one attribute relation, as sorted CSR arrays on one device.

    own_crow/own_val: each owner's values that have at least 2 members (others give no neighbour);
    mem_crow/mem_col: each value's members in ascending order; mem_key = value * num_owners + member (sorted).
    """

    name: str
    num_owners: int
    num_values: int
    own_crow: Tensor
    own_val: Tensor
    mem_crow: Tensor
    mem_col: Tensor
    mem_key: Tensor


def _crow(rows: Tensor, n: int) -> Tensor:
    crow = torch.zeros(n + 1, dtype=torch.int64, device=rows.device)
    torch.cumsum(torch.bincount(rows, minlength=n), 0, out=crow[1:])
    return crow


def value_index(owners: Tensor, values: Tensor, num_owners: int, num_values: int, name: str = "",
                device: torch.device | str = "cpu") -> ValueIndex:
    """Build a :class:`ValueIndex` from the (owner, value) edges of a relation (duplicates collapsed)."""
    owners = torch.as_tensor(owners, dtype=torch.int64)
    values = torch.as_tensor(values, dtype=torch.int64)
    mem_key = torch.unique(values * num_owners + owners)  # sorted by (value, member)
    v = torch.div(mem_key, num_owners, rounding_mode="floor")
    o = mem_key - v * num_owners
    mem_crow = _crow(v, num_values)
    shared = mem_crow.diff()[v] >= 2
    okey = torch.sort(o[shared] * num_values + v[shared]).values  # (owner, value) of values with >= 2 members
    oo = torch.div(okey, num_values, rounding_mode="floor")
    t = dict(own_crow=_crow(oo, num_owners), own_val=okey - oo * num_values, mem_crow=mem_crow, mem_col=o,
             mem_key=mem_key)
    return ValueIndex(name=name, num_owners=num_owners, num_values=num_values,
                      **{k: x.to(device) for k, x in t.items()})


def sample_same_value(vi: ValueIndex, owners: Tensor, k: int,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """k same-value neighbours per owner: ``(neighbour, value, membership, valid)``, each [n, k].

    A neighbour j != i shares ``value`` with i; ``membership`` is the position of (value, j) in
    ``mem_col`` (a message depends only on that pair, so models compute it once per membership). Rows of
    owners without such a value are all invalid (their entries are 0 and must be ignored). Exact exclusion of
    i: draw r in [0, deg(v) − 1) and skip i's own position in v's sorted member list.
    """
    dev = vi.own_crow.device
    owners = owners.to(dev, torch.int64)
    n = owners.numel()
    start, deg = vi.own_crow[owners], vi.own_crow.diff()[owners]
    valid = (deg > 0)[:, None].expand(n, k).clone()
    if vi.own_val.numel() == 0 or n == 0:
        zero = torch.zeros(n, k, dtype=torch.int64, device=dev)
        return zero, zero.clone(), zero.clone(), valid
    u1 = torch.rand(n, k, generator=generator, device=dev)
    pos = start[:, None] + (u1 * deg[:, None]).long().clamp_max(deg[:, None] - 1).clamp_min(0)
    value = vi.own_val[pos.clamp_max(vi.own_val.numel() - 1)]
    m_start, m_deg = vi.mem_crow[value], vi.mem_crow.diff()[value]
    self_pos = torch.searchsorted(vi.mem_key, value * vi.num_owners + owners[:, None]) - m_start
    u2 = torch.rand(n, k, generator=generator, device=dev)
    r = (u2 * (m_deg - 1)).long().clamp_max(m_deg - 2).clamp_min(0)
    r = r + (r >= self_pos).long()
    member = torch.where(valid, (m_start + r).clamp_max(vi.mem_col.numel() - 1), 0)
    return torch.where(valid, vi.mem_col[member], 0), torch.where(valid, value, 0), member, valid


def shuffled_neighbours(neighbours: Tensor, owners: Tensor, num_owners: int,
                        generator: torch.Generator | None = None) -> Tensor:
    """The bandit's chance neighbours: ``neighbours`` [n, k] relabelled by one random permutation π of the owners.

    This is the relation with its values reassigned at random (a permutation null): each owner's chance set
    {π(j)} is a random set of the same size, drawn with the same repeats, so duplicate draws and small value
    groups bias it exactly as they bias the real draws. A draw mapped onto its own owner (π(j) = i) takes π(i)
    instead, which is never i since π is a bijection and j ≠ i.
    """
    perm = torch.randperm(num_owners, generator=generator, device=neighbours.device)
    out = perm[neighbours]
    return torch.where(out == owners[:, None], perm[owners][:, None].expand_as(out), out)


def keep_count(n: Tensor, threshold: float, at_least_one: bool = False) -> Tensor:
    """How many of n candidates a threshold keeps: round(threshold · n), halves up, within [0, n]; with
    ``at_least_one`` never below 1 where n ≥ 1 (the module docstring says why there is no floor by default)."""
    keep = torch.floor(threshold * n.to(torch.float64) + 0.5 + 1e-9).long()
    if at_least_one:
        keep = keep.clamp_min(1)
    return keep.minimum(n)


def keep_top(similarity: Tensor, valid: Tensor, threshold: float, *, at_least_one: bool = False) -> Tensor:
    """Keep mask [n, k]: per row, the :func:`keep_count` (round(threshold · #valid)) most similar valid entries;
    none when that rounds to 0, unless ``at_least_one``.

    Ties keep the earlier column (stable sort), so the result is deterministic.
    """
    n_valid = valid.sum(1)
    keep_n = keep_count(n_valid, threshold, at_least_one)
    s = similarity.masked_fill(~valid, float("-inf"))
    order = torch.argsort(s, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(s.shape[1], device=s.device).expand_as(order).contiguous())
    return valid & (rank < keep_n[:, None])


def keep_top_grouped(similarity: Tensor, group: Tensor, order: Tensor, threshold: float) -> Tensor:
    """:func:`keep_top` for edges listed flat: keep mask [E] with, per ``group`` (a destination), the
    round(threshold · #edges) most similar (:func:`keep_count`); ties keep the smaller ``order``.

    Sampled mode filters the neighbours of a DGL block this way: with ``order`` = the draw's position in its
    owner's row (the candidate graph's edge id) and every draw present, the mask equals :func:`keep_top`'s.
    """
    n = similarity.numel()
    if n == 0:
        return torch.zeros(0, dtype=torch.bool, device=similarity.device)
    # lexicographic sort by (group, -similarity, order): stable argsorts from the last key to the first
    perm = torch.argsort(order, stable=True)
    perm = perm[torch.argsort(similarity[perm], descending=True, stable=True)]
    perm = perm[torch.argsort(group[perm], stable=True)]
    g = group[perm]
    _, counts = torch.unique_consecutive(g, return_counts=True)
    starts = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    rank = torch.arange(n, device=similarity.device) - starts
    keep_n = keep_count(counts, threshold)
    keep = torch.empty(n, dtype=torch.bool, device=similarity.device)
    keep[perm] = rank < torch.repeat_interleave(keep_n, counts)
    return keep


def paired_evidence(dist: Tensor, keep: Tensor, chance_dist: Tensor, chance_keep: Tensor) -> float:
    """z-score that a relation's kept neighbours are closer than chance: per owner (row) with both sets
    non-empty, Δ = mean kept chance distance − mean kept distance; returns mean(Δ) / (std(Δ) / √n) (NaN for
    fewer than 3 such owners; ±inf-free: a zero spread gives a large finite z of the mean's sign)."""
    has = keep.any(1) & chance_keep.any(1)
    if int(has.sum()) < 3:
        return float("nan")
    k, ck = keep[has].to(dist.dtype), chance_keep[has].to(dist.dtype)
    delta = (chance_dist[has] * ck).sum(1) / ck.sum(1) - (dist[has] * k).sum(1) / k.sum(1)
    se = delta.std() / delta.numel() ** 0.5
    return float(delta.mean() / se.clamp_min(1e-12))


@dataclass
class ThresholdBandit:
    """Per-relation thresholds moved by ±epsilon on ±1 rewards; see the module docstring for the rules.

    ``z_min``: the evidence (:func:`paired_evidence`) a relation needs for +1 when :meth:`step` is given it.
    """

    names: list[str]
    epsilon: float = 0.02
    initial: float = 0.5
    window: int = 10
    z_min: float = 1.0
    thresholds: dict[str, float] = field(default_factory=dict)
    frozen: dict[str, bool] = field(default_factory=dict)
    rewards: dict[str, list[int]] = field(default_factory=dict)
    last_ratio: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.epsilon <= 1:
            raise ValueError(f"epsilon must lie in (0, 1], got {self.epsilon}")
        for name in self.names:
            self.thresholds.setdefault(name, min(1.0, max(self.epsilon, self.initial)))
            self.frozen.setdefault(name, False)
            self.rewards.setdefault(name, [])

    def step(self, distances: dict[str, float], chance: dict[str, float],
             evidence: dict[str, float] | None = None) -> dict[str, int]:
        """One iteration: reward each unfrozen relation, move its threshold and maybe freeze it.

        ``distances[r]``: the average distance of r's kept neighbours this epoch; ``chance[r]``: the average
        distance of r's chance neighbours (random other owners, filtered by the same threshold) this epoch;
        ``evidence[r]``: the paired z-score that r's kept neighbours are closer than chance (RAM-GNN passes it).
        With evidence, reward +1 when evidence[r] > ``z_min``, else −1 (NaN evidence: −1); without (callers that
        only have the averages), +1 when the ratio distances[r] / chance[r] < 1, else −1 (a ratio of exactly 1
        is no evidence for the relation: −1). Both are measured in the same epoch's projection, so the global
        drift of the embedding scale cancels (the module docstring says why the old "distance fell since last
        epoch" rule gave every relation the same rewards). Returns the rewards given (0 where none: the first
        observation, a frozen relation, or a NaN / non-positive chance distance).
        """
        given = {}
        for name in self.names:
            d, c = distances.get(name, float("nan")), chance.get(name, float("nan"))
            given[name] = 0
            if self.frozen[name] or math.isnan(d) or math.isnan(c) or c <= 0:
                continue
            first = name not in self.last_ratio
            self.last_ratio[name] = d / c
            if first:
                continue
            if evidence is not None:
                z = evidence.get(name, float("nan"))
                reward = 1 if (not math.isnan(z) and z > self.z_min) else -1
            else:
                reward = 1 if d < c else -1
            t = self.thresholds[name] + (self.epsilon if reward > 0 else -self.epsilon)
            self.thresholds[name] = min(1.0, max(self.epsilon, t))
            self.rewards[name].append(reward)
            given[name] = reward
            last = self.rewards[name][-self.window:]
            if len(last) >= self.window and abs(sum(last)) <= self.epsilon:
                self.frozen[name] = True
        return given
