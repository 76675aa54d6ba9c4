"""LightGCN with inductive layer 0: a node's ID embedding plus an encoder over its attribute / KG neighbours.

    e^0_i = m_i · id_i + c_i,   c_i = mean over side relations r with N_r(i) ≠ ∅ of mean_{a ∈ N_r(i)} e_a

where ``m_i`` is 1 for an item with train interactions and 0 for one without (its ID row was never trained, so
it must not speak), and ``e_a`` are the embeddings of attribute values / KG entities (one table per node type,
shared by every relation into it). Users get the same treatment from their own attributes where the dataset
has any (age band, gender, occupation). Then LightGCN's weightless propagation over the user–item graph and
the mean over layers (an item without interactions, which layers 1..K cannot reach, keeps its layer 0 whole
rather than 1/(K+1) of it). An item nobody has rated gets a real score from its attributes: that is the point.

Why ID dropout: trained with BPR on warm items only, the model could let the ID rows carry everything and
leave the attribute tables untrained; dropping a warm item's ID with probability ``id_dropout`` during
training (DropoutNet, Volkovs et al. 2017) makes the content path carry the ranking on its own too.

Pretraining reaches it through ``init``: every node type's table (user, item, author, tag, entity, ...) starts
from the pretrained vectors when given, so the relation-aware knowledge of R-GCN / KGAT / RAM-GNN is in the
attribute tables that score cold items, not only in layer 0 of warm ones.

``encoder="relation"`` gives each side relation its own trainable map (one R-GCN layer without self-loop, the ID
row being the self term): ``c_i = mean over r of (mean_{a ∈ N_r(i)} e_a) W_r``. ``W_r`` starts at the identity
(the mean encoder) or at a pretraining's exported relation transforms (``transforms``, the init contract's
``relation_transforms``: R-GCN's layer-0 ``W_r``), which fine-tuning then trains on.

``encoder="attention"`` weighs every side neighbour ``(r, a)`` of a node with KGAT's knowledge-aware attention,
``π = (e_a W_r)ᵀ tanh(q_i W_r + e_r)``, softmax over the node's side edges, ``c_i = Σ π e_a``; the query ``q_i``
is the node's mean-encoder content (KGAT queries with the node's own row, which an item without interactions does
not have). ``W_r``, ``e_r`` start from a KGAT pretraining's ``relation_attention`` (the carried module) or fresh.

The KG view (``kgcl_weight``, in the spirit of KGCL, Yang et al. SIGIR 2022): the encoder run over an augmented
KG (each item–attribute edge dropped with probability ``kg_drop``) gives an item's knowledge view; LightGCN's
propagation of the ID rows alone gives its interaction view; InfoNCE pulls a batch item's two views together and
apart from the other items'. It teaches the encoder, under missing knowledge, to say what the interactions say
about an item: exactly what an item without interactions needs.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from hetrec.graph import relations as R
from hetrec.graph.adjacency import relation_index
from hetrec.graph.relations import interaction_relations
from hetrec.model.contrastive import info_nce, perturb
from hetrec.model.conv import propagate
from hetrec.model.kgat import project, transr_distance
from hetrec.model.init import check_graph_sizes, check_init, fill_tables
from hetrec.model.loss import l2
from hetrec.model.protocol import Recommender
from hetrec.model.sparse import softmax_by

__all__ = ["AttrLightGCN", "side_inputs", "ENCODERS", "KG_OBJECTIVES"]

ENCODERS = ("mean", "relation", "attention")
KG_OBJECTIVES = ("link", "transr")


def side_inputs(graph, target: str, item_type: str) -> list[tuple[str, str, str]]:
    """Relations ``(side type, r, target)`` bringing attribute / KG nodes into ``target`` (not users, not items)."""
    return sorted(c for c in graph.canonical_etypes if c[2] == target and c[0] not in (R.USER, item_type))


class AttrLightGCN(nn.Module, Recommender):
    """Inductive LightGCN (module docstring), optionally with SimGCL's contrastive regulariser.

    Args:
        num_users, num_items, dim: sizes. side_sizes: ``{side node type: count}`` for every node type with a
            relation into users or items. warm: BoolTensor[num_items], items with train interactions.
        num_layers: LightGCN layers. item_type: item node type. init: pretrained tables by node type.
        id_dropout: probability of dropping a warm item's ID row in a training forward pass.
        cl_weight, cl_eps, cl_temperature: SimGCL (weight 0 = off).
        kg_weight: weight of the joint link-prediction loss on the item–attribute/KG edges (0 = off).
        encoder: ``mean`` (parameter-free), ``relation`` (a trainable ``W_r`` per side relation) or ``attention``
            (KGAT's knowledge-aware attention over the side edges).
        relations: the side relations ``(side type, r, user|item)`` (``relation``/``attention``; default: none).
        transforms: pretrained ``{relation name: [dim, dim]}`` to start ``W_r`` from (others start at identity).
        attention: pretrained ``{relation name: {"w": [dim, dim], "e": [dim]}}`` for the attention encoder.
        kgcl_weight, kg_drop: weight of the KG-view contrastive loss (0 = off) and its edge-drop probability.
        kg_objective: the joint KG loss, ``link`` (R-GCN-style) or ``transr`` (KGAT's; needs the attention encoder).
    """

    def __init__(self, num_users: int, num_items: int, dim: int, *, side_sizes: Mapping[str, int], warm: Tensor,
                 num_layers: int = 3, item_type: str = "item", init: Mapping[str, Tensor] | None = None,
                 id_dropout: float = 0.0, cl_weight: float = 0.0, cl_eps: float = 0.1,
                 cl_temperature: float = 0.2, kg_weight: float = 0.0, encoder: str = "mean",
                 relations: list[tuple[str, str, str]] | None = None, transforms: Mapping[str, Tensor] | None = None,
                 attention: Mapping[str, Mapping[str, Tensor]] | None = None, kgcl_weight: float = 0.0,
                 kg_drop: float = 0.2, kg_objective: str = "link") -> None:
        super().__init__()
        if min(num_users, num_items, dim) <= 0 or num_layers < 0:
            raise ValueError(f"sizes must be positive and num_layers >= 0, got {num_users}, {num_items}, {dim}, "
                             f"{num_layers}")
        if not side_sizes:
            raise ValueError("the graph has no attribute or KG relation into users or items; "
                             "use --model lightgcn")
        if not 0 <= id_dropout < 1:
            raise ValueError(f"id_dropout must lie in [0, 1), got {id_dropout}")
        if not 0 <= kg_drop < 1:
            raise ValueError(f"kg_drop must lie in [0, 1), got {kg_drop}")
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        if kg_objective not in KG_OBJECTIVES:
            raise ValueError(f"kg_objective must be one of {KG_OBJECTIVES}, got {kg_objective!r}")
        if kg_objective == "transr" and encoder != "attention":
            raise ValueError("the transr KG loss scores with the attention encoder's W_r and e_r: "
                             "use encoder 'attention'")
        if encoder != "mean" and not relations:
            raise ValueError(f"encoder {encoder!r} needs the side relations it weighs (relations=...)")
        self.num_users, self.num_items, self.dim, self.num_layers = num_users, num_items, dim, num_layers
        self.item_type, self.id_dropout = item_type, id_dropout
        self.cl_weight, self.cl_eps, self.cl_temperature = cl_weight, cl_eps, cl_temperature
        self.kg_weight, self.kgcl_weight, self.kg_drop, self.encoder = kg_weight, kgcl_weight, kg_drop, encoder
        self.kg_objective = kg_objective
        sizes = {"user": (num_users, dim), item_type: (num_items, dim)}
        sizes.update({t: (n, dim) for t, n in side_sizes.items()})
        self._init = check_init(init, sizes) if init is not None else {}
        self.user = nn.Parameter(torch.empty(num_users, dim))
        self.item = nn.Parameter(torch.empty(num_items, dim))
        self.side = nn.ParameterDict({t: nn.Parameter(torch.empty(n, dim)) for t, n in sorted(side_sizes.items())})
        self.register_buffer("warm", torch.as_tensor(warm, dtype=torch.bool).clone())
        self.relations = sorted(relations or []) if encoder != "mean" else []
        d = (dim, dim)
        self._transforms = self._pretrained({k: {"w": w} for k, w in (transforms or {}).items()},
                                            "relation transform", {"w": d}) if encoder == "relation" else {}
        self._attention = self._pretrained(attention or {}, "relation attention",
                                           {"w": d, "e": (dim,)}) if encoder == "attention" else {}
        n_rel = len(self.relations)
        self.transform = nn.Parameter(torch.empty(n_rel, dim, dim)) if encoder == "relation" and n_rel else None
        self.att_w = nn.Parameter(torch.empty(n_rel, dim, dim)) if encoder == "attention" and n_rel else None
        self.att_e = nn.Parameter(torch.empty(n_rel, dim)) if encoder == "attention" and n_rel else None
        self._edges: dict[str, tuple[Tensor, ...]] = {}  # side edges per target (:meth:`_side_edges`)
        self.reset_parameters()

    def _pretrained(self, modules: Mapping[str, Mapping[str, Tensor]], what: str,
                    shapes: Mapping[str, tuple[int, ...]]) -> dict[str, dict[str, Tensor]]:
        """The pretrained relation modules ``{relation name: {part: tensor}}`` this encoder's relations use,
        shape-checked (float32, CPU); relations the graph lacks are ignored, as extra node tables are."""
        names = {c[1] for c in self.relations}
        used = {}
        for name, parts in modules.items():
            if name not in names:
                continue
            got = {k: torch.as_tensor(parts[k]) for k in shapes}
            if any(tuple(got[k].shape) != shape for k, shape in shapes.items()):
                raise ValueError(f"{what} {name!r} has shapes {[tuple(t.shape) for t in got.values()]}, the "
                                 f"encoder needs {list(shapes.values())}: pretrain and finetune with the same --dim")
            used[name] = {k: t.detach().to("cpu", torch.float32).clone() for k, t in got.items()}
        return used

    def reset_parameters(self) -> None:
        tables = [(self.user, "user"), (self.item, self.item_type)] + [(p, t) for t, p in self.side.items()]
        fill_tables(tables, self._init)
        if self.transform is not None:
            with torch.no_grad():
                for k, c in enumerate(self.relations):
                    self.transform[k].copy_(self._transforms.get(c[1], {"w": torch.eye(self.dim)})["w"])
        if self.att_w is not None:
            nn.init.xavier_uniform_(self.att_w)
            nn.init.xavier_uniform_(self.att_e)
            with torch.no_grad():
                for k, c in enumerate(self.relations):
                    if c[1] in self._attention:
                        self.att_w[k].copy_(self._attention[c[1]]["w"])
                        self.att_e[k].copy_(self._attention[c[1]]["e"])

    def _content(self, graph, target: str, drop: float = 0.0) -> Tensor | None:
        """The encoder's content vector of every ``target`` node; with ``drop`` > 0 every side edge is first
        dropped with that probability (the augmented KG view)."""
        rels = side_inputs(graph, target, self.item_type)
        if not rels:
            return None
        if self.att_w is not None:
            return self._attend(graph, target, rels, drop)
        return self._relation_means(graph, rels, drop)

    def _relation_means(self, graph, rels, drop: float = 0.0) -> Tensor:
        """Mean over the relations with neighbours of each relation's mean neighbour row (times ``W_r``)."""
        total, count = 0, 0
        for rel in rels:
            sub = graph[rel]
            if drop:
                keep = (torch.rand(sub.num_edges(), device=self.user.device) >= drop).float()
                index = relation_index(sub, self.user.device)
                kept = torch.zeros(index.num_dst, device=keep.device).index_add_(0, index.dst, keep[index.eid])
                msg = propagate(sub, self.side[rel[0]], norm="none", edge_weight=keep) / kept.clamp_min(1).unsqueeze(1)
                has = (kept > 0).float()
            else:
                msg = propagate(sub, self.side[rel[0]], norm="right")  # mean over the relation's neighbours
                has = (sub.in_degrees().to(self.user.device) > 0).float()
            if self.transform is not None:
                rows = has.nonzero().squeeze(1)
                msg = msg.index_copy(0, rows, msg[rows] @ self.transform[self.relations.index(rel)])
            total, count = total + msg, count + has
        return total / count.clamp_min(1).unsqueeze(1)

    def _side_edges(self, graph, target: str) -> tuple[Tensor, ...]:
        """Every side edge into ``target`` nodes as flat columns, built once: ``(dst, src, rel, lo, hi)`` with
        ``src`` a row of the side tables concatenated in :meth:`_side_types` order, ``rel`` the edge's index in
        ``self.relations`` (-1 for the mean encoder) and ``[lo, hi)`` the rows of its source's node type."""
        if target not in self._edges:
            rels = side_inputs(graph, target, self.item_type)
            start = self._side_start(rels)
            parts = []
            for c in rels:  # a loop over relations, not edges
                src, dst = graph[c].edges(order="eid")
                lo = torch.full((src.numel(),), start[c[0]])
                k = self.relations.index(c) if c in self.relations else -1
                parts.append((dst.long(), src.long() + start[c[0]], torch.full((src.numel(),), k), lo,
                              lo + self.side[c[0]].shape[0]))
            self._edges[target] = tuple(torch.cat(col).to(self.user.device) for col in zip(*parts))
        return self._edges[target]

    def _side_start(self, rels) -> dict[str, int]:
        """First row of each source node type of ``rels`` in the concatenation of :meth:`_side_table`."""
        types = sorted({c[0] for c in rels})
        sizes = torch.tensor([self.side[t].shape[0] for t in types])
        return dict(zip(types, (sizes.cumsum(0) - sizes).tolist()))

    def _side_table(self, rels) -> Tensor:
        return torch.cat([self.side[t] for t in self._side_start(rels)])

    def _attend(self, graph, target: str, rels, drop: float) -> Tensor:
        """KGAT's attention over the target's side edges (module docstring), queried by the mean content of the
        full neighbourhood (also in the augmented view, where only the kept edges are attended over)."""
        dst, src, rel, _, _ = self._side_edges(graph, target)
        if drop:
            keep = torch.rand(dst.numel(), device=dst.device) >= drop
            dst, src, rel = dst[keep], src[keep], rel[keep]
        query = self._relation_means(graph, rels)  # the node's mean content over its full side neighbourhood
        value = self._side_table(rels)[src]
        score = (project(value, rel, self.att_w) * torch.tanh(project(query[dst], rel, self.att_w)
                                                              + self.att_e[rel])).sum(-1)
        w = softmax_by(dst, query.shape[0], score)
        return query.new_zeros(query.shape).index_add(0, dst, w.unsqueeze(1) * value)

    def layer0(self, graph) -> tuple[Tensor, Tensor]:
        """``(e^0_u, e^0_i)``: ID rows (items' only where warm, randomly dropped in training) plus content."""
        keep = self.warm.float()
        if self.training and self.id_dropout > 0:
            keep = keep * (torch.rand(self.num_items, device=keep.device) >= self.id_dropout).float()
        items = self.item * keep.unsqueeze(1)
        users = self.user
        c_i, c_u = self._content(graph, self.item_type), self._content(graph, R.USER)
        if c_i is not None:
            items = items + c_i
        if c_u is not None:
            users = users + c_u
        return users, items

    def _propagate(self, graph, u: Tensor, i: Tensor, eps: float = 0.0) -> tuple[Tensor, Tensor]:
        rates, rated_by = interaction_relations(graph, self.item_type)
        to_items, to_users = graph[rates], graph[rated_by]
        us, its = [u], [i]
        for _ in range(self.num_layers):
            u, i = propagate(to_users, i, norm="both"), propagate(to_items, u, norm="both")
            if eps:
                u, i = perturb(u, eps), perturb(i, eps)
            us.append(u)
            its.append(i)
        items = torch.stack(its).mean(0)
        # An item without interactions gets nothing from layers 1..K; averaging zeros would shrink its content
        # vector by K + 1 against warm items, so it keeps its layer 0 whole (an isolated node's own view).
        items = torch.where(self.warm.unsqueeze(1), items, its[0])
        return torch.stack(us).mean(0), items

    def forward(self, graph) -> tuple[Tensor, Tensor]:
        """Final ``(user [U, dim], item [I, dim])``; score = dot product."""
        check_graph_sizes(graph, {"user": self.num_users, self.item_type: self.num_items})
        return self._propagate(graph, *self.layer0(graph))

    def aux_loss(self, graph, users: Tensor, pos: Tensor) -> Tensor:
        """``cl_weight`` × SimGCL's InfoNCE (users + items, two noise views) + ``kg_weight`` × the KG link loss."""
        total = torch.zeros((), device=self.user.device)
        if self.cl_weight:
            u0, i0 = self.layer0(graph)
            (u1, i1), (u2, i2) = (self._propagate(graph, u0, i0, self.cl_eps) for _ in range(2))
            bu, bi = torch.unique(users), torch.unique(pos)
            total = total + self.cl_weight * (info_nce(u1[bu], u2[bu], self.cl_temperature)
                                              + info_nce(i1[bi], i2[bi], self.cl_temperature))
        if self.kg_weight:
            total = total + self.kg_weight * self.kg_loss(graph, users.numel())
        if self.kgcl_weight:
            total = total + self.kgcl_weight * self.kg_view_loss(graph, pos)
        return total

    def kg_view_loss(self, graph, pos: Tensor) -> Tensor:
        """InfoNCE between the batch items' knowledge view (the encoder over a KG with edges dropped with
        probability ``kg_drop``) and their interaction view (LightGCN over the ID rows alone)."""
        bi = torch.unique(pos)
        knowledge = self._content(graph, self.item_type, self.kg_drop)
        _, interaction = self._propagate(graph, self.user, self.item * self.warm.float().unsqueeze(1))
        return info_nce(knowledge[bi], interaction[bi], self.cl_temperature)

    def kg_loss(self, graph, size: int) -> Tensor:
        """Joint objective on the KG / attribute relations: BPR over ``size`` random item–value edges against a
        random node ``a'`` of the same type, ``e_i`` the item's layer-0 vector; it trains the encoder's tables on the
        KG itself, cold items included, not only through the users' ratings. ``kg_loss="link"``: R-GCN-style link
        prediction ``softplus(e_i·e_a' − e_i·e_a)``; ``"transr"``: KGAT's own objective with the attention
        encoder's (KGAT's) ``W_r``, ``e_r``: ``softplus(g(i, r, a) − g(i, r, a'))``,
        ``g = ||e_i W_r + e_r − e_a W_r||²`` (lower is more plausible)."""
        item, value, rel, lo, hi = self._side_edges(graph, self.item_type)
        pick = torch.randint(item.numel(), (size,), device=item.device)
        neg = lo[pick] + (torch.rand(size, device=item.device) * (hi[pick] - lo[pick]).float()).long()
        table = self._side_table(side_inputs(graph, self.item_type, self.item_type))
        _, i0 = self.layer0(graph)
        e_i = i0[item[pick]]
        if self.kg_objective == "transr":
            r = rel[pick]
            wh = project(e_i, r, self.att_w)
            er = self.att_e[r]
            pos = transr_distance(wh, er, project(table[value[pick]], r, self.att_w))
            negd = transr_distance(wh, er, project(table[neg], r, self.att_w))
            return torch.nn.functional.softplus(pos - negd).mean()
        return torch.nn.functional.softplus((e_i * table[neg]).sum(-1) - (e_i * table[value[pick]]).sum(-1)).mean()

    def reg_loss(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        """L2 of the batch's ID rows / batch size (the shared attribute tables are left to the optimiser)."""
        return l2(self.user[users], self.item[pos], self.item[neg]) / max(len(users), 1)

    def extra_repr(self) -> str:
        return (f"num_users={self.num_users}, num_items={self.num_items}, dim={self.dim}, "
                f"num_layers={self.num_layers}, side={sorted(self.side)}, id_dropout={self.id_dropout}, "
                f"cl_weight={self.cl_weight}, kg_weight={self.kg_weight}, kgcl_weight={self.kgcl_weight}, "
                f"encoder={self.encoder}, pretrained={sorted(self._init)}, "
                f"pretrained_transforms={sorted(self._transforms)}, pretrained_attention={sorted(self._attention)}")
