"""CUDA vs CPU (``-m gpu``): every model's forward and backward, the sparse kernels and relation modules.

Graphs stay on the CPU (a CPU DGL cannot hold them on a GPU); parameters and the cached CSR move to the device.
``HETREC_TEST_DEVICE=cpu`` runs them CPU vs CPU (see tests/gpu_helpers.py).
"""
import hetrec  # noqa: F401  (before dgl)
import dgl
import pytest
import torch

from gpu_helpers import DEVICE, assert_module_agrees, needs_device
from hetrec.graph.adjacency import gcn_values, relation_index
from hetrec.model.conv import propagate
from hetrec.model.kgat import KGAT
from hetrec.model.lightgcn import LightGCN
from hetrec.model.mf import MF
from hetrec.model.ramgnn import RelationGraphEncoder, SimilarityMLP, edge_index
from hetrec.model.ramgnn_rec import RAMGNNRec, item_attribute_sizes
from hetrec.model.rgcn import RGCN
from hetrec.model.sparse import edge_softmax, spmm
from hetrec.sampler.blocks import sample_blocks

pytestmark = [pytest.mark.gpu, needs_device]


def rec_graph(users=50, books=40, ratings=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    u, b = torch.randint(0, users, (ratings,), generator=g), torch.randint(0, books, (ratings,), generator=g)
    a, t = torch.randint(0, 6, (books,), generator=g), torch.randint(0, 9, (2 * books,), generator=g)
    tb = torch.arange(2 * books) % books
    graph = dgl.heterograph({
        ("user", "rates", "book"): (u, b), ("book", "rated_by", "user"): (b, u),
        ("book", "written_by", "author"): (torch.arange(books), a), ("author", "wrote", "book"): (a, torch.arange(books)),
        ("book", "has_tag", "tag"): (tb, t), ("tag", "tag_of", "book"): (t, tb)},
        num_nodes_dict={"user": users, "book": books, "author": 6, "tag": 9})
    w = torch.rand(2 * books, generator=g) + 0.5
    graph.edges["has_tag"].data["weight"] = w
    graph.edges["tag_of"].data["weight"] = w
    return graph


def test_spmm_and_edge_softmax_agree():
    graph = rec_graph()
    rel = graph["rated_by"]
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(rel.num_src_nodes(), 16, generator=g)
    s0 = torch.randn(rel.num_edges(), generator=g)

    def run(dev):
        index = relation_index(rel, dev)
        x, s = x0.to(dev).requires_grad_(), s0.to(dev).requires_grad_()
        att = edge_softmax(index, s[index.eid])
        out = spmm(index, att, x) + spmm(index, gcn_values(index, "both"), x)
        (out * torch.arange(out.numel(), device=dev).reshape(out.shape).sin()).sum().backward()
        return [out, att, x.grad, s.grad]

    for a, b in zip(run("cpu"), run(DEVICE)):
        torch.testing.assert_close(b.cpu(), a, atol=1e-5, rtol=1e-4)


class _Propagate(torch.nn.Module):
    """A linear map then ``propagate`` with edge weights: the GraphConv-style use of the kernel."""

    def __init__(self, norm: str) -> None:
        super().__init__()
        self.lin, self.norm = torch.nn.Linear(16, 8), norm

    def forward(self, g, x):
        return propagate(g, self.lin(x), norm=self.norm, edge_weight=g.edata["weight"].to(x.device))


@pytest.mark.parametrize("norm", ["both", "right"])
def test_weighted_propagate_agrees(norm):
    graph = rec_graph()
    x0 = torch.randn(graph.num_nodes("book"), 16)
    assert_module_agrees(_Propagate(norm), lambda m, dev: m(graph["has_tag"], x0.to(dev)))


def test_attr_lightgcn_agrees():
    from hetrec.model.attr_lightgcn import AttrLightGCN, side_inputs

    graph = rec_graph()
    side = {c[0]: graph.num_nodes(c[0]) for t in ("user", "book") for c in side_inputs(graph, t, "book")}
    warm = torch.arange(40) % 4 != 0
    model = AttrLightGCN(50, 40, 16, side_sizes=side, warm=warm, num_layers=2, item_type="book")
    assert_module_agrees(model, lambda m, dev: m(graph))


def test_lightgcn_and_mf_agree():
    graph = rec_graph()
    assert_module_agrees(LightGCN(50, 40, 16, num_layers=3), lambda m, dev: m(graph))
    assert_module_agrees(MF(50, 40, 16, item_type="book"), lambda m, dev: m(graph))


def test_lightgcn_reg_loss_agrees():
    graph = rec_graph()
    users, pos, neg = torch.tensor([0, 3, 5]), torch.tensor([1, 2, 3]), torch.tensor([7, 8, 9])
    assert_module_agrees(LightGCN(50, 40, 8, num_layers=2),
                         lambda m, dev: m.reg_loss(users.to(dev), pos.to(dev), neg.to(dev)))


def test_ramgnn_rec_agrees():
    graph = rec_graph()
    model = RAMGNNRec(50, 40, 16, attribute_sizes=item_attribute_sizes(graph, "book"), item_type="book")
    assert_module_agrees(model, lambda m, dev: m(graph))


def test_rgcn_full_and_blocks_agree():
    graph = rec_graph()
    model = RGCN({t: graph.num_nodes(t) for t in graph.ntypes}, graph.etypes, 16, 2, num_bases=2)
    assert_module_agrees(model, lambda m, dev: m(graph))
    dgl.seed(0)
    blocks = sample_blocks(graph, {"user": torch.arange(0, 50, 4), "book": torch.arange(0, 40, 3)}, (4, 4))
    assert_module_agrees(model, lambda m, dev: m.forward_blocks(blocks))


def test_kgat_agrees():
    graph = dgl.to_homogeneous(rec_graph())
    head, tail = graph.edges()
    rel = graph.edata[dgl.ETYPE].long()
    ckg = dgl.graph((tail, head), num_nodes=graph.num_nodes())
    model = KGAT(graph.num_nodes(), int(rel.max()) + 1, 16, 2)

    def run(m, dev):
        h, r, t = head.long().to(dev), rel.to(dev), tail.long().to(dev)
        index = relation_index(ckg, dev)
        scores = m.attention_scores(h, r, t, chunk=500)
        att = edge_softmax(index, scores[index.eid])
        blocks = sample_blocks(ckg, torch.arange(0, graph.num_nodes(), 5), (-1, -1))
        return [m(index, att), m.kg_scores(h[:64], r[:64], t[:64], t.flip(0)[:64]),
                m.forward_blocks(blocks, scores)]

    assert_module_agrees(model, run)


def test_ramgnn_pretrain_modules_agree():
    g = torch.Generator().manual_seed(2)
    n, values = 30, [4, 5]
    mem_node = torch.cat([torch.arange(n), torch.arange(n)])
    mem_value = torch.cat([torch.randint(0, 4, (n,), generator=g), 4 + torch.randint(0, 5, (n,), generator=g)])
    dst, src = torch.randint(0, n, (200,), generator=g), torch.randint(0, 2 * n, (200,), generator=g)
    for compose in ("corr", "mul", "add"):
        enc = RelationGraphEncoder(n, values, 8, layers=2, compose=compose)

        def run(m, dev):
            index = edge_index(dst.to(dev), src.to(dev), n, 2 * n)
            full = m(index, mem_node.to(dev), mem_value.to(dev))
            layers = [(index, mem_node.to(dev), mem_value.to(dev))] * 2  # blocks whose dst = src: same rows
            return [full, m.forward_blocks(torch.arange(n, device=dev), layers)]

        assert_module_agrees(enc, run)
    mlp = SimilarityMLP(8)
    e_i, e_j = torch.randn(10, 8, generator=g), torch.randn(10, 8, generator=g)
    assert_module_agrees(mlp, lambda m, dev: m(e_i.to(dev), e_j.to(dev)))
