"""RAM-GNN pretraining (Wang et al.; DESIGN "Method references"): relation-aware attention over same-value
item (and user) neighbours, a Reinforced Neighbor Sampler, and a BPR objective on the train interactions.

Loss = BPR(user reps · item reps) + λ Σ_r L_sim,r + reg · L2(batch layer-0 rows) / batch, where L_sim,r is
binary cross-entropy on the RNS similarity s ∈ [0, 1]: sampled same-value neighbours -> 1, uniformly random
owners -> 0 (the paper's "similarity loss with negative sampling"; BCE is our reading of its form). L_sim trains
the similarity MLP only (on detached embeddings; :func:`_sim_loss` says why).

Schedule (full-graph mode): every epoch samples ``neighbors`` same-value neighbours per owner and relation
(two hops through the attribute-value nodes, never the dense item–item graph; repeated draws collapse into
one edge; messages are computed per item–value membership, see hetrec/model/ramgnn.py), keeps the top t_r fraction
by similarity (``rns=False`` keeps all: the RAM-rel ablation), steps the threshold bandit on whether the kept
neighbours are significantly closer than chance (random owners filtered by the same threshold; see
hetrec/pretrain/rns.py for why the reward is normalised per relation), then runs the epoch's BPR steps with one full propagation per step. Users
get their own encoder when they have attributes (ML-100K: age, gender, occupation), else an ID table.
Early stopping on validation NDCG@10 of the dot-product scores; the best epoch's embeddings are exported.

Sampled mode (``--mode sampled --fanouts``): the epoch's draws form a DGL candidate graph (one relation per
attribute); each BPR step samples blocks from it with :func:`hetrec.sampler.blocks.sample_blocks`, the sampler
R-GCN and KGAT use (``fanouts`` in-edges per relation and layer), then the RNS per-relation top-k filters each
block's sampled neighbours with the epoch's thresholds, and the encoder runs on the blocks only. With fanouts -1
that reproduces full-graph mode (same kept edges, same outputs; tested). Validation and the export use a
full-graph pass over the epoch's kept edges, as R-GCN and KGAT do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import hetrec  # noqa: F401  (DGL shim before dgl)
import dgl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hetrec.errors import HetrecError
from hetrec.graph import relations as R
from hetrec.model.loss import bpr_loss, l2
from hetrec.graph.adjacency import RelationIndex
from hetrec.model.ramgnn import RelationGraphEncoder, SimilarityMLP, edge_index
from hetrec.pretrain.common import check_config, fit, train_index
from hetrec.pretrain.config import PretrainConfig, PretrainResult
from hetrec.pretrain.rns import (ThresholdBandit, ValueIndex, keep_top, keep_top_grouped, paired_evidence,
                                 shuffled_neighbours, sample_same_value, value_index)
from hetrec.sampler.blocks import sample_blocks
from hetrec.sampler.bpr import bpr_batches
from hetrec.trainer import distributed

__all__ = ["attribute_relations", "Side", "pretrain"]


def attribute_relations(graph, owner: str, item_type: str) -> list[tuple[str, str, str]]:
    """Relations ``(owner, rel, attribute)`` to attribute-value nodes (not users, not items), sorted by name."""
    return sorted(c for c in graph.canonical_etypes if c[0] == owner and c[2] not in (R.USER, item_type))


@dataclass
class Side:
    """One owner type's item/user graph: its relations, their value indexes, encoder and RNS.

    Memberships (owner, value) of all relations are concatenated: relation r's start at ``mem_offsets[r]``;
    ``mem_node``/``mem_value`` give each one's owner and its row of the encoder's relation table.
    """

    owner: str
    relations: list[tuple[str, str, str]]
    values: list[ValueIndex]
    encoder: RelationGraphEncoder
    mlp: SimilarityMLP
    bandit: ThresholdBandit
    mem_offsets: list[int]
    mem_node: Tensor
    mem_value: Tensor


def _side(graph, owner: str, item_type: str, cfg: PretrainConfig, device) -> Side | None:
    rels = attribute_relations(graph, owner, item_type)
    if not rels:
        return None
    n = graph.num_nodes(owner)
    vis = [value_index(*graph.edges(etype=c), n, graph.num_nodes(c[2]), name=c[1], device=device) for c in rels]
    enc = RelationGraphEncoder(n, [v.num_values for v in vis], cfg.dim, layers=cfg.layers, compose=cfg.compose,
                               attention=cfg.attention).to(device)
    bandit = ThresholdBandit([c[1] for c in rels], epsilon=cfg.rns_epsilon)
    sizes = [v.mem_col.numel() for v in vis]
    mem_value = [enc.offsets[r] + torch.repeat_interleave(torch.arange(v.num_values, device=device), v.mem_crow.diff())
                 for r, v in enumerate(vis)]
    return Side(owner, rels, vis, enc, SimilarityMLP(cfg.dim).to(device), bandit,
                mem_offsets=[sum(sizes[:r]) for r in range(len(vis))],
                mem_node=torch.cat([v.mem_col for v in vis]), mem_value=torch.cat(mem_value))


@dataclass
class EpochNeighbours:
    """One epoch's neighbour structure of a side: what the RNS sampled, kept and measured.

    ``index``: the kept edges (owner × membership) for full-graph passes; ``pairs``: valid (owner, neighbour)
    draws per relation for the similarity loss; ``dist``: average distance of the kept neighbours per relation
    and ``chance``: that of the same draws relabelled by a random permutation of the owners, kept by the same
    top-t_r filter (the bandit's inputs: their ratio is the relation's normalised distance to chance; empty when
    ``rns`` is off), both measured on at least one kept draw per owner even where t_r rounds to none;
    ``evidence``: the paired z-score of the same comparison per owner (:func:`hetrec.pretrain.rns.paired_evidence`),
    which decides the reward; ``z``: the RNS projection of the owners used to rank them; ``candidates``: every valid
    draw as a DGL graph (CPU; one relation ``(owner, rel, owner)`` per attribute, edges neighbour -> owner in
    (owner, draw) order, edge data ``mem`` = the global membership) that sampled mode draws blocks from.
    """

    index: RelationIndex
    pairs: list[tuple[Tensor, Tensor]]
    dist: dict[str, float]
    z: Tensor
    candidates: dgl.DGLGraph | None = None
    chance: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, float] = field(default_factory=dict)


@torch.no_grad()
def _epoch_neighbours(side: Side, k: int, rns: bool, gen, *, candidates: bool = False) -> EpochNeighbours:
    """Sample ``k`` same-value neighbours per owner and relation and filter them by the thresholds."""
    n = side.encoder.num_nodes
    owners = torch.arange(n, device=side.encoder.node.device)
    z = side.mlp.project(side.encoder.node.detach())
    dsts, mems, pairs, dist, chance, evidence, cand = [], [], [], {}, {}, {}, {}
    for r, vi in enumerate(side.values):
        nbr, _, member, valid = sample_same_value(vi, owners, k, gen)
        d = side.mlp.l1(z[:, None, :], z[nbr])
        t = side.bandit.thresholds[vi.name]
        keep = keep_top(-d, valid, t) if rns else valid
        # what the bandit measures: the same filter, but never empty for an owner with draws (a relation whose
        # threshold rounds to no neighbour is still judged, so it can come back)
        meas = keep_top(-d, valid, t, at_least_one=True) if rns else valid
        dist[vi.name] = float(d[meas].mean()) if bool(meas.any()) else float("nan")
        if rns:  # the reward's per-relation baseline: the draws relabelled at random, same top-t filter
            d_rnd = side.mlp.l1(z[:, None, :], z[shuffled_neighbours(nbr, owners, n, gen)])
            keep_rnd = keep_top(-d_rnd, valid, t, at_least_one=True)
            chance[vi.name] = float(d_rnd[keep_rnd].mean()) if bool(keep_rnd.any()) else float("nan")
            evidence[vi.name] = paired_evidence(d, meas, d_rnd, keep_rnd)
        dst = owners[:, None].expand_as(nbr)
        dsts.append(dst[keep])
        mems.append(member[keep] + side.mem_offsets[r])
        pairs.append((dst[valid], nbr[valid]))
        # row-major: within an owner, candidate edge ids follow the draw order (keep_top's tie-break)
        cand[(side.owner, vi.name, side.owner)] = (nbr[valid].cpu(), dst[valid].cpu(),
                                                   (member[valid] + side.mem_offsets[r]).cpu())
    index = edge_index(torch.cat(dsts), torch.cat(mems), n, side.mem_node.numel())
    graph = None
    if candidates:
        graph = dgl.heterograph({c: (src, dst) for c, (src, dst, _) in cand.items()}, num_nodes_dict={side.owner: n})
        for c, (_, _, mem) in cand.items():
            graph.edges[c].data["mem"] = mem
    return EpochNeighbours(index, pairs, dist, z, candidates=graph, chance=chance, evidence=evidence)


def _block_layers(side: Side, nb: EpochNeighbours, blocks: list, rns: bool) -> tuple[Tensor, list]:
    """The RNS filter on sampled blocks: per layer, the kept edges as (index, mem_src, mem_value) for
    :meth:`RelationGraphEncoder.forward_blocks`, and the first block's input owners.

    Each relation's sampled in-edges of a destination are ranked by RNS similarity (the epoch's ``z``) and the
    top t_r fraction is kept, exactly as full-graph mode filters all draws; with fanout -1 a block holds every
    draw of its destinations, so the kept edges and outputs equal full-graph mode's.
    """
    dev = nb.z.device
    layers = []
    for block in blocks:
        src_ids, dst_ids = block.srcdata[dgl.NID].to(dev), block.dstdata[dgl.NID].to(dev)
        dst_l, src_l, mem_l = [], [], []
        for c in block.canonical_etypes:
            if block.num_edges(c) == 0:
                continue
            s, d = (t.to(dev) for t in block.edges(etype=c))
            orig = block.edges[c].data[dgl.EID]
            mem = nb.candidates.edges[c].data["mem"][orig].to(dev)
            if rns:
                sim = -side.mlp.l1(nb.z[dst_ids[d]], nb.z[src_ids[s]])
                keep = keep_top_grouped(sim, d, orig.to(dev), side.bandit.thresholds[c[1]])
                s, d, mem = s[keep], d[keep], mem[keep]
            dst_l.append(d)
            src_l.append(s)
            mem_l.append(mem)
        cat = lambda xs: torch.cat(xs) if xs else torch.empty(0, dtype=torch.int64, device=dev)  # noqa: E731
        d, s, mem = cat(dst_l), cat(src_l), cat(mem_l)
        uniq, local = torch.unique(mem, return_inverse=True)  # sorted: the full index's membership order
        mem_src = torch.empty_like(uniq).scatter_(0, local, s)  # a membership's owner is its edges' source
        layers.append((edge_index(d, local, block.num_dst_nodes(), uniq.numel()), mem_src, side.mem_value[uniq]))
    return blocks[0].srcdata[dgl.NID].to(dev), layers


def _sim_loss(side: Side, pairs: list[tuple[Tensor, Tensor]], size: int, gen) -> Tensor:
    """Σ_r BCE(s(i, j) -> 1 for sampled neighbours, s(i, j') -> 0 for random owners j'), on the ID embeddings.

    It trains the similarity MLP only: the embeddings are detached. Its positives are every relation's draws,
    noise relations included, so through the embeddings it would pull items sharing a noise value together,
    bias the bandit's reward towards the noise relation and write the noise into what BPR scores (see
    hetrec/pretrain/rns.py).
    """
    z, n, dim = side.mlp.project(side.encoder.node.detach()), side.encoder.num_nodes, side.encoder.dim
    total = z.new_zeros(())
    for i, j in pairs:
        if i.numel() == 0:
            continue
        pick = torch.randint(i.numel(), (min(size, i.numel()),), generator=gen, device=i.device)
        a, p = i[pick], j[pick]
        q = torch.randint(n, a.shape, generator=gen, device=a.device)
        s_pos = (1 - side.mlp.l1(z[a], z[p]) / dim).clamp(1e-6, 1 - 1e-6)
        s_neg = (1 - side.mlp.l1(z[a], z[q]) / dim).clamp(1e-6, 1 - 1e-6)
        total = total + F.binary_cross_entropy(s_pos, torch.ones_like(s_pos)) \
            + F.binary_cross_entropy(s_neg, torch.zeros_like(s_neg))
    return total


def _export(item_side: Side, user_side: Side | None, item_type: str,
            users: Tensor, items: Tensor, user_table: Tensor | None, dim: int) -> dict:
    """The init contract (docs/architecture.md): ``node`` = layer-0 inputs of every node type (the items' and
    users' node tables, each attribute value's row of the relation table), ``final`` = the users' and items'
    layer-mean outputs that validation scored, ``modules`` = the encoders' and similarity MLPs' weights.

    A value node type reached through several relations (a KG's shared ``entity``) has one row per relation in the
    relation table; its exported row is the mean over the relations in which that value has members (all of
    them for a value with none), so no relation's table silently overwrites another's.
    """
    node = {item_type: item_side.encoder.node.detach().cpu().clone(),
            R.USER: (user_side.encoder.node if user_side else user_table).detach().cpu().clone()}
    relation, sums, counts, every, modules = {}, {}, {}, {}, {}
    for side in (s for s in (item_side, user_side) if s is not None):
        table = side.encoder.relation_table().detach().cpu()
        modules[side.owner] = {"encoder": side.encoder.state_dict(), "mlp": side.mlp.state_dict()}
        for r, c in enumerate(side.relations):
            off, vi = int(side.encoder.offsets[r]), side.values[r]
            rows = table[off:off + vi.num_values]
            has = (vi.mem_crow.diff() > 0).cpu().to(rows.dtype).unsqueeze(1)
            sums[c[2]] = sums.get(c[2], 0) + rows * has
            counts[c[2]] = counts.get(c[2], 0) + has
            relation[c[1]] = side.encoder.type_emb[r].detach().cpu().clone()
            every.setdefault(c[2], []).append(rows)
    for t in sums:
        node[t] = torch.where(counts[t] > 0, sums[t] / counts[t].clamp_min(1), torch.stack(every[t]).mean(0))
    final = {item_type: items.detach().cpu().clone(), R.USER: users.detach().cpu().clone()}
    return {"node": node, "final": final, "relation": relation, "modules": modules, "method": "ramgnn", "dim": dim}


def pretrain(artifact, cfg: PretrainConfig, device: torch.device | str = "cpu",
             log: Callable[[str], None] | None = None) -> PretrainResult:
    """Pretrain RAM-GNN on ``artifact``'s train graph; returns embeddings (docs/architecture.md), history,
    best validation metrics and ``extra_files["thresholds.csv"]`` (one row per epoch and relation)."""
    fanouts = check_config(cfg)
    if cfg.neighbors <= 0:
        raise HetrecError(f"--neighbors {cfg.neighbors}: must be at least 1")
    sampled = cfg.mode == "sampled"
    device = torch.device(device)
    torch.manual_seed(cfg.seed)
    if sampled:
        dgl.seed(cfg.seed)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    graph, item_type = artifact.graph, artifact.item_type
    item_side = _side(graph, item_type, item_type, cfg, device)
    if item_side is None:
        raise HetrecError(f"{artifact.path}: the graph has no attribute relations from {item_type!r}; "
                          "RAM-GNN needs item attributes (rebuild the graph with attributes)")
    user_side = _side(graph, R.USER, item_type, cfg, device)
    num_users = graph.num_nodes(R.USER)
    user_table = None if user_side else nn.Parameter(torch.empty(num_users, cfg.dim, device=device))
    if user_table is not None:
        nn.init.normal_(user_table, std=0.1)
    sides = [s for s in (item_side, user_side) if s is not None]
    params = [p for s in sides for m in (s.encoder, s.mlp) for p in m.parameters()]
    params += [user_table] if user_table is not None else []
    opt = torch.optim.Adam(params, lr=cfg.lr)
    train = train_index(artifact, device)
    state: dict[str, EpochNeighbours] = {}
    thresholds: list[dict] = []

    def user_item() -> tuple[Tensor, Tensor]:
        items = item_side.encoder(state[item_type].index, item_side.mem_node, item_side.mem_value)
        users = (user_side.encoder(state[R.USER].index, user_side.mem_node, user_side.mem_value) if user_side
                 else user_table)
        return users, items

    def encode_sampled(side: Side, ids: Tensor) -> Tensor:
        """Sampled mode: representations of ``ids`` (owners) from DGL blocks of the epoch's candidates."""
        seeds, rows = torch.unique(ids, return_inverse=True)
        nb = state[side.owner]
        blocks = sample_blocks(nb.candidates, {side.owner: seeds.cpu()}, fanouts)
        input_nodes, layers = _block_layers(side, nb, blocks, cfg.rns)
        return side.encoder.forward_blocks(input_nodes, layers)[rows]

    def batch_reps(u: Tensor, p: Tensor, q: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if not sampled:
            users, items = user_item()
            return users[u], items[p], items[q]
        ep, eq = encode_sampled(item_side, torch.cat([p, q])).split(p.numel())
        return (encode_sampled(user_side, u) if user_side else user_table[u]), ep, eq

    def train_epoch(epoch: int) -> dict:
        for s in sides:
            state[s.owner] = _epoch_neighbours(s, cfg.neighbors, cfg.rns, gen, candidates=sampled)
            dist = state[s.owner].dist
            rewards = s.bandit.step(dist, state[s.owner].chance, state[s.owner].evidence) if cfg.rns else {}
            thresholds.extend({"epoch": epoch, "owner": s.owner, "relation": name,
                               "threshold": s.bandit.thresholds[name] if cfg.rns else 1.0,
                               "avg_distance": dist[name], "reward": rewards.get(name, 0),
                               "frozen": bool(s.bandit.frozen[name]) if cfg.rns else False} for name in dist)
        sums, steps = {"loss": 0.0, "bpr": 0.0, "sim": 0.0, "reg": 0.0}, 0
        for u, p, q in bpr_batches(train, cfg.batch_size, gen, shard=distributed.shard()):
            eu, ep, eq = batch_reps(u, p, q)
            bpr = bpr_loss((eu * ep).sum(-1), (eu * eq).sum(-1))
            sim = sum(_sim_loss(s, state[s.owner].pairs, cfg.batch_size, gen) for s in sides)
            u0 = user_side.encoder.node[u] if user_side else user_table[u]
            reg = cfg.reg * l2(u0, item_side.encoder.node[p], item_side.encoder.node[q]) / u.numel()
            loss = bpr + cfg.sim_weight * sim + reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for key, v in (("loss", loss), ("bpr", bpr), ("sim", sim), ("reg", reg)):
                sums[key] += float(v.detach())
            steps += 1
        return {k: v / max(steps, 1) for k, v in sums.items()}

    def export() -> dict:
        users, items = user_item()
        return _export(item_side, user_side, item_type, users, items, user_table, cfg.dim)

    result = fit(cfg, artifact, train_epoch=train_epoch, user_item=user_item, export=export, device=device, log=log)
    result.extra_files["thresholds.csv"] = thresholds
    return result
