"""Relation modules against DGL's own modules on CPU (the oracle), full graphs and blocks."""
import hetrec  # noqa: F401  (before dgl)
import dgl
import dgl.nn as dglnn
import pytest
import torch

from hetrec.graph.adjacency import clear_cache, relation_index
from hetrec.model.conv import propagate
from hetrec.model.sparse import attend, edge_softmax, spmm


class SparseGraphConv(torch.nn.Module):
    """``propagate`` wrapped as ``dgl.nn.GraphConv`` (weight, bias) so DGL is the oracle of its normalisation.

    Args:
        in_dim: input feature size. out_dim: output size.
        norm: ``both`` (symmetric), ``right`` (mean over in-edges), ``left`` or ``none``.
        weight: learn a linear map ``W`` (else ``in_dim`` must equal ``out_dim``).
        bias: add a learned bias. activation: applied last.
        edge_weight_field: name of an edge-data field to use as message weight when no
            ``edge_weight`` is passed (e.g. ``"weight"`` for tag counts).
    """

    def __init__(self, in_dim: int, out_dim: int, *, norm: str = "both", weight: bool = True, bias: bool = True,
                 activation=None, edge_weight_field: str | None = None) -> None:
        super().__init__()
        if norm not in ("both", "right", "left", "none"):
            raise ValueError(f"norm must be both|right|left|none, got {norm!r}")
        if not weight and in_dim != out_dim:
            raise ValueError("weight=False needs in_dim == out_dim")
        self.in_dim, self.out_dim, self.norm = in_dim, out_dim, norm
        self.activation, self.edge_weight_field = activation, edge_weight_field
        self.weight = torch.nn.Parameter(torch.empty(in_dim, out_dim)) if weight else None
        self.bias = torch.nn.Parameter(torch.empty(out_dim)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            torch.nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, graph, feat, weight=None, edge_weight=None):
        """graph: a single-relation graph or block; feat: src features or (src, dst) pair."""
        x = feat[0] if isinstance(feat, tuple) else feat
        if edge_weight is None and self.edge_weight_field is not None:
            edge_weight = graph.edata[self.edge_weight_field]
        w = weight if weight is not None else self.weight
        if w is not None and self.in_dim > self.out_dim:  # multiply first: cheaper SpMM
            x = x @ w
            w = None
        out = propagate(graph, x, norm=self.norm, edge_weight=edge_weight)
        if w is not None:
            out = out @ w
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out) if self.activation is not None else out


def random_hetero(seed=0, n_user=30, n_book=20, n_tag=7, e_rates=120, e_tag=50):
    g = torch.Generator().manual_seed(seed)
    u = torch.randint(0, n_user, (e_rates,), generator=g)
    b = torch.randint(0, n_book, (e_rates,), generator=g)
    bt = torch.randint(0, n_book, (e_tag,), generator=g)
    t = torch.randint(0, n_tag, (e_tag,), generator=g)
    graph = dgl.heterograph({
        ("user", "rates", "book"): (u, b), ("book", "rated_by", "user"): (b, u),
        ("book", "has_tag", "tag"): (bt, t), ("tag", "tag_of", "book"): (t, bt),
    }, num_nodes_dict={"user": n_user, "book": n_book, "tag": n_tag})
    graph.edges["has_tag"].data["weight"] = torch.rand(e_tag, generator=g) + 0.5
    graph.edges["tag_of"].data["weight"] = graph.edges["has_tag"].data["weight"].clone()
    return graph


def paired_convs(rels, in_dim, out_dim, norm, **kw):
    ours = {r: SparseGraphConv(in_dim, out_dim, norm=norm, **kw) for r in rels}
    theirs = {r: dglnn.GraphConv(in_dim, out_dim, norm=norm, allow_zero_in_degree=True, **kw) for r in rels}
    for r in rels:
        theirs[r].weight.data.copy_(ours[r].weight.data)
        theirs[r].bias.data.normal_()
        ours[r].bias.data.copy_(theirs[r].bias.data)
    return dglnn.HeteroGraphConv(ours, aggregate="sum"), dglnn.HeteroGraphConv(theirs, aggregate="sum")


def feats(graph, dim, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {nt: torch.randn(graph.num_nodes(nt), dim, generator=g, requires_grad=True) for nt in graph.ntypes}


@pytest.mark.parametrize("norm", ["both", "right", "left", "none"])
@pytest.mark.parametrize("dims", [(8, 4), (4, 8)])
def test_hetero_graphconv_matches_dgl_outputs_and_gradients(norm, dims):
    graph = random_hetero()
    ours, theirs = paired_convs(graph.etypes, *dims, norm)
    x1 = feats(graph, dims[0])
    x2 = {k: v.detach().clone().requires_grad_() for k, v in x1.items()}
    out1, out2 = ours(graph, x1), theirs(graph, x2)
    assert out1.keys() == out2.keys()
    for nt in out1:
        torch.testing.assert_close(out1[nt], out2[nt], atol=1e-5, rtol=1e-5)
    sum(o.square().sum() for o in out1.values()).backward()
    sum(o.square().sum() for o in out2.values()).backward()
    for nt in x1:
        torch.testing.assert_close(x1[nt].grad, x2[nt].grad, atol=1e-5, rtol=1e-5)
    for rel in graph.etypes:
        torch.testing.assert_close(ours.mods[rel].weight.grad, theirs.mods[rel].weight.grad, atol=1e-4, rtol=1e-4)


def test_edge_weight_matches_dgl():
    graph = random_hetero()
    rel = graph["tag_of"]
    ours = SparseGraphConv(6, 3, norm="both", edge_weight_field="weight")
    theirs = dglnn.GraphConv(6, 3, norm="both", allow_zero_in_degree=True)
    theirs.weight.data.copy_(ours.weight.data)
    x = torch.randn(graph.num_nodes("tag"), 6)
    xd = torch.randn(graph.num_nodes("book"), 6)
    expected = theirs(rel, (x, xd), edge_weight=rel.edata["weight"])
    torch.testing.assert_close(ours(rel, (x, xd)), expected, atol=1e-5, rtol=1e-5)


def test_blocks_from_neighbor_sampler_match_dgl():
    graph = random_hetero(seed=3)
    ours, theirs = paired_convs(graph.etypes, 5, 5, "both")
    sampler = dgl.dataloading.NeighborSampler([3])
    _, _, blocks = sampler.sample_blocks(graph, {"user": torch.arange(10), "book": torch.arange(5)})
    block = blocks[0]
    x = {nt: torch.randn(block.num_src_nodes(nt), 5) for nt in block.srctypes}
    out1, out2 = ours(block, x), theirs(block, x)
    for nt in out2:
        torch.testing.assert_close(out1[nt], out2[nt], atol=1e-5, rtol=1e-5)


def test_edge_softmax_and_attention_match_dgl_with_gradients():
    graph = random_hetero(seed=5)
    rel = graph["rates"]
    index = relation_index(rel)
    scores_eid = torch.randn(rel.num_edges(), requires_grad=True)
    x = torch.randn(rel.num_src_nodes(), 4, requires_grad=True)
    ours = attend(index, scores_eid[index.eid], x)
    a = dgl.ops.edge_softmax(rel, scores_eid.unsqueeze(-1))
    rel.srcdata["h"] = x
    rel.edata["a"] = a
    rel.update_all(dgl.function.u_mul_e("h", "a", "m"), dgl.function.sum("m", "out"))
    theirs = rel.dstdata["out"]
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)
    g1 = torch.autograd.grad(ours.sin().sum(), (scores_eid, x))
    g2 = torch.autograd.grad(theirs.sin().sum(), (scores_eid, x))
    for a1, a2 in zip(g1, g2):
        torch.testing.assert_close(a1, a2, atol=1e-5, rtol=1e-5)


def test_edge_softmax_multi_head_sums_to_one_per_destination():
    rel = random_hetero(seed=2)["rated_by"]
    index = relation_index(rel)
    alpha = edge_softmax(index, torch.randn(index.num_edges, 3) * 50)  # large scores: stability
    sums = torch.zeros(index.num_dst, 3).index_add_(0, index.dst, alpha)
    has_in = index.in_deg > 0
    torch.testing.assert_close(sums[has_in], torch.ones(int(has_in.sum()), 3))
    assert torch.isfinite(alpha).all()


def test_spmm_matches_dense_oracle_in_float64():
    rel = random_hetero(seed=7)["has_tag"]
    index = relation_index(rel)
    values = torch.randn(index.num_edges, dtype=torch.float64, requires_grad=True)
    x = torch.randn(index.num_src, 3, dtype=torch.float64, requires_grad=True)
    dense = torch.zeros(index.num_dst, index.num_src, dtype=torch.float64).index_put(
        (index.dst, index.src), values, accumulate=True)
    torch.testing.assert_close(spmm(index, values, x), dense @ x)
    assert torch.autograd.gradcheck(lambda v, h: spmm(index, v, h), (values, x))


def test_index_is_cached_across_hetero_slices_and_forward_leaves_graph_untouched():
    clear_cache()
    graph = random_hetero()
    before = {et: graph.edges(etype=et) for et in graph.canonical_etypes}
    edata_before = {k: v.clone() for k, v in graph.edges["has_tag"].data.items()}
    assert relation_index(graph["user", "rates", "book"]) is relation_index(graph["user", "rates", "book"])
    conv, _ = paired_convs(graph.etypes, 4, 4, "both")
    conv(graph, feats(graph, 4))
    for et, (u, v) in before.items():
        u2, v2 = graph.edges(etype=et)
        assert torch.equal(u, u2) and torch.equal(v, v2)
    assert set(graph.edges["has_tag"].data.keys()) == set(edata_before)
    assert set(graph.ndata.keys()) == set()
