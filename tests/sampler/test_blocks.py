"""Neighbour sampling is reproducible per seed, and blocks end exactly at the seeds."""
import hetrec  # noqa: F401
import dgl
import torch
from dgl.utils import get_num_threads, set_num_threads

from hetrec.sampler.blocks import sample_blocks


def graph(n_user=400, n_book=300, e=20000):
    g = torch.Generator().manual_seed(0)
    u, b = torch.randint(0, n_user, (e,), generator=g), torch.randint(0, n_book, (e,), generator=g)
    return dgl.heterograph({("user", "rates", "book"): (u, b), ("book", "rated_by", "user"): (b, u)})


def edge_sets(blocks):
    return [{et: tuple(t.tolist() for t in b.edges(etype=et, form="uv")) for et in b.canonical_etypes}
            | {"src": {t: b.srcnodes[t].data[dgl.NID].tolist() for t in b.srctypes}} for b in blocks]


def test_same_seed_same_blocks_even_with_several_dgl_threads():
    g = graph()
    seeds = {"user": torch.arange(0, 400, 3), "book": torch.arange(0, 300, 5)}
    set_num_threads(2)
    try:
        runs = []
        for _ in range(3):
            dgl.seed(7)
            runs.append(edge_sets(sample_blocks(g, seeds, (5, 5))))
        assert runs[0] == runs[1] == runs[2]
        assert get_num_threads() == 2  # restored
    finally:
        set_num_threads(torch.get_num_threads())


def test_last_block_destinations_are_the_seeds_and_fanout_is_respected():
    g = graph()
    seeds = {"user": torch.tensor([5, 1, 9]), "book": torch.tensor([2])}
    blocks = sample_blocks(g, seeds, (4, 3))
    last = blocks[-1]
    assert last.dstnodes["user"].data[dgl.NID].tolist() == [5, 1, 9]
    assert last.dstnodes["book"].data[dgl.NID].tolist() == [2]
    assert int(last.in_degrees(etype="rated_by").max()) <= 3
    assert int(blocks[0].in_degrees(etype="rated_by").max()) <= 4
