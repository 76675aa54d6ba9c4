"""Pretrain KGAT (Wang et al. KDD 2019) on the collaborative knowledge graph of the train heterograph.

Each epoch alternates, as the paper and the authors' code do: (1) a CF pass, BPR on (user, train item, sampled
non-train item) scored by the dot product of the concatenated layer outputs, plus ``reg`` x L2 of those
representations; (2) a KG pass over every CKG triple once, TransR BPR ``softplus(g(h,r,t) - g(h,r,t'))`` against
corrupted tails, plus ``reg`` x L2 of the projected terms; each pass has its own Adam. (3) The attention
``pi(h, r, t)`` is then recomputed from the new parameters and held fixed (no gradient) through the next CF pass:
the paper's per-epoch schedule, which also keeps a CF step at one SpMM per layer.

The CKG holds every relation of the graph (user–item interactions and behaviours included), each edge a triple
(head = src, relation, tail = dst); heads aggregate their tails. Sampled mode draws DGL neighbour blocks on that
homogeneous CKG (``fanouts`` neighbours per node across all relations) and re-normalises the attention over the
sampled neighbours. Validation and the export use the full CKG. Message dropout 0.1 as in the paper.

Exported embeddings: ``node`` = the ego (layer-0) entity embeddings, [num_nodes, dim] per type, trained by both
losses (they are block 0 of every CF score and the TransR inputs), so ``finetune --init`` takes them with its
``--dim`` equal to ``dim``; ``final`` = the concatenated representations [num_nodes, dim * (layers + 1)] per type,
which are what validation scores (the early-stopping signal); ``relation`` = ``e_r`` by relation name.
"""
from __future__ import annotations

import hetrec  # noqa: F401  (DGL shim before dgl)
import dgl
import torch
from torch import Tensor

from hetrec.graph.adjacency import relation_index
from hetrec.model.kgat import KGAT
from hetrec.model.loss import bpr_loss, l2
from hetrec.model.sparse import edge_softmax
from hetrec.pretrain import common
from hetrec.pretrain.config import PretrainConfig, PretrainResult
from hetrec.sampler.bpr import bpr_batches
from hetrec.sampler.blocks import sample_blocks
from hetrec.trainer import distributed

DROPOUT = 0.1  # message dropout of the paper's experiments


def ckg_graph(kg: common.Triples) -> dgl.DGLGraph:
    """The CKG as one homogeneous DGL graph (CPU) with edge k = triple k, directed tail -> head."""
    return dgl.graph((kg.tail.cpu(), kg.head.cpu()), num_nodes=kg.num_nodes)


def pretrain(artifact, cfg: PretrainConfig, device: torch.device, log: common.Log | None = None) -> PretrainResult:
    """Train KGAT on ``artifact.graph``; early stopping on validation NDCG@10 keeps the best export."""
    fanouts = common.check_config(cfg)
    graph, item_type = artifact.graph, artifact.item_type
    space = common.NodeSpace.of(graph)
    kg = common.triples(graph, space, item_type, user_item=True).to(device)
    ckg = ckg_graph(kg)
    index = relation_index(ckg, device)
    train = common.train_index(artifact, device)
    model = KGAT(space.num_nodes, len(kg.relations), cfg.dim, cfg.layers, dropout=DROPOUT).to(device)
    cf_opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    kg_opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    u_off, i_off = space.offset("user"), space.offset(item_type)
    state: dict[str, Tensor] = {}

    def refresh_attention() -> None:
        with torch.no_grad():
            state["scores"] = model.attention_scores(kg.head, kg.rel, kg.tail)  # edge-id order
            state["att"] = edge_softmax(index, state["scores"][index.eid])     # CSR order

    def reps(gids: Tensor) -> tuple[Tensor, Tensor]:
        if cfg.mode == "full":
            return model(index, state["att"]), gids
        seeds, rows = torch.unique(gids, return_inverse=True)
        blocks = sample_blocks(ckg, seeds, fanouts)
        return model.forward_blocks(blocks, state["scores"]), rows

    def train_epoch(epoch: int) -> dict:
        model.train()
        cf_sum = kg_sum = 0.0
        cf_steps = kg_steps = 0
        for users, pos, neg in bpr_batches(train, cfg.batch_size, gen, shard=distributed.shard()):
            x, rows = reps(torch.cat([users + u_off, pos + i_off, neg + i_off]))
            eu, ep, en = x[rows].split(users.numel())
            cf = bpr_loss((eu * ep).sum(-1), (eu * en).sum(-1))
            loss = cf + cfg.reg * l2(eu, ep, en) / users.numel()
            cf_opt.zero_grad(set_to_none=True)
            loss.backward()
            cf_opt.step()
            cf_sum, cf_steps = cf_sum + float(cf.detach()), cf_steps + 1
        for h, r, t, t_neg in common.kg_batches(kg, cfg.kg_batch_size, gen, shard=distributed.shard()):
            g_pos, g_neg, reg = model.kg_scores(h, r, t, t_neg)
            kg_loss = bpr_loss(-g_pos, -g_neg)  # TransR: lower g is more plausible
            loss = kg_loss + cfg.reg * reg / h.numel()
            kg_opt.zero_grad(set_to_none=True)
            loss.backward()
            kg_opt.step()
            kg_sum, kg_steps = kg_sum + float(kg_loss.detach()), kg_steps + 1
        refresh_attention()
        return {"bpr": cf_sum / max(cf_steps, 1), "kg": kg_sum / max(kg_steps, 1)}

    def user_item() -> tuple[Tensor, Tensor]:
        model.eval()
        final = space.split(model(index, state["att"]))
        return final["user"], final[item_type]

    def export() -> dict:
        model.eval()
        return {"node": space.split(model.entity), "final": space.split(model(index, state["att"])),
                "relation": {c[1]: model.relation[k] for k, c in enumerate(kg.relations)},
                # the knowledge-aware attention of messages tail -> head along each relation (the carried module)
                "relation_attention": {c[1]: {"w": model.trans_w[k], "e": model.relation[k]}
                                       for k, c in enumerate(kg.relations)},
                "modules": model.state_dict(), "method": "kgat", "dim": cfg.dim}

    refresh_attention()
    return common.fit(cfg, artifact, train_epoch=train_epoch, user_item=user_item, export=export,
                      device=device, log=log)
