"""Stage ``build-graph``: load a dataset, split it, build the heterograph, write the artifact.

Why a config dataclass: the CLI, pipeline TOML files and tests all construct the same
object, so defaults live here once.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from hetrec.artifacts import atomic_dir, claim_output
from hetrec.data.dataset import Dataset
from hetrec.errors import HetrecError

LOADERS: dict[str, Callable[[Path, "BuildGraphConfig"], Dataset]] = {}


def _goodbooks(directory: Path, cfg: "BuildGraphConfig") -> Dataset:
    from hetrec.data.goodbooks import load_goodbooks

    return load_goodbooks(directory, top_tags=cfg.top_tags, catalog=cfg.catalog)


def _spec(base, cfg: "BuildGraphConfig"):
    """The table spec with --item-attr/--user-attr applied (declared columns replace a table's defaults)."""
    from dataclasses import replace

    from hetrec.data.tables import parse_declared

    item, user = parse_declared(cfg.item_attr, "--item-attr"), parse_declared(cfg.user_attr, "--user-attr")
    return replace(base, item_attributes=item if item is not None else base.item_attributes,
                   user_attributes=user if user is not None else base.user_attributes)


def _tables(directory: Path, cfg: "BuildGraphConfig") -> Dataset:
    from hetrec.data.tables import TableSpec, load_tables

    return load_tables(directory, _spec(TableSpec(), cfg))


def _ml100k(directory: Path, cfg: "BuildGraphConfig") -> Dataset:
    from hetrec.data.tables import ML100K_SPEC, load_tables

    return load_tables(directory, _spec(ML100K_SPEC, cfg))


def _kg(directory: Path, cfg: "BuildGraphConfig") -> Dataset:
    from hetrec.data.kg import load_kg

    return load_kg(directory)


LOADERS.update({"goodbooks": _goodbooks, "tables": _tables, "ml-100k": _ml100k, "kg": _kg})


@dataclass
class BuildGraphConfig:
    data: Path  # dataset directory
    out: Path  # artifact directory to write
    dataset: str = "goodbooks"  # goodbooks | tables (ratings/items/users.csv, every column) | ml-100k | kg
    top_tags: int = 20  # goodbooks: tags kept per book, by count
    catalog: Path | None = None  # goodbooks: directory of books.csv + tags.csv when not beside ratings.csv
    rating_threshold: float | None = None  # keep ratings >= this as positives; None = all
    min_user: int = 0  # drop users with fewer interactions
    min_item: int = 0  # drop items with fewer interactions
    split: str = "loo"  # loo (leave-one-out by time) | random holdout | given | cold-items
    split_file: Path | None = None  # given: user_id,item_id,part (default: the dataset's own, e.g. KGAT)
    valid_frac: float = 0.1  # random: share of each user's rows in valid; given: share carved from train
    test_frac: float = 0.1  # random split: share of each user's rows in test
    cold_frac: float = 0.1  # cold-items: share of the eligible items made cold
    cold_min: int = 3  # cold-items: interactions an item needs to be eligible
    seed: int = 0  # random / cold-items / carved-valid seed
    item_attr: tuple[str, ...] = ()  # tables: COLUMN[:KIND] of items.csv to use (empty = every column, detected)
    user_attr: tuple[str, ...] = ()  # tables: COLUMN[:KIND] of users.csv to use
    similar_k: int = 0  # neighbours per item in (item, similar, item) on tag profiles; 0 = none
    similar_on: str = "tag"  # attribute node type that defines item similarity
    force: bool = False  # replace an existing --out

    def resolved(self) -> dict:
        """Settings that shape the artifact (paths and --force excluded, so the fingerprint is portable)."""
        d = asdict(self)
        for k in ("data", "out", "force", "catalog", "split_file"):  # inputs are fingerprinted by content instead
            d.pop(k)
        d["item_attr"], d["user_attr"] = list(d["item_attr"]), list(d["user_attr"])
        return d


def run(cfg: BuildGraphConfig, *, log: Callable[[str], None] | None = None):
    """Build the artifact at ``cfg.out`` and return it as a loaded :class:`GraphArtifact`.

    ``log`` receives progress lines (the CLI passes ``hetrec.report.message``). The output is claimed
    (locked, checked against the inputs) before anything is read.
    """
    with claim_output(cfg.out, stage="build_graph", force=cfg.force, inputs=(cfg.data, cfg.catalog, cfg.split_file)):
        return _run(cfg, log=log)


def _run(cfg: BuildGraphConfig, *, log: Callable[[str], None] | None = None):
    from hetrec.data.schema import fingerprints
    from hetrec.data.split import SplitConfig, read_split_file, split_with_stats
    from hetrec.graph.artifact import GraphArtifact, write_graph_artifact
    from hetrec.graph.build import build_graph

    say = log or (lambda _msg: None)
    if cfg.dataset not in LOADERS:
        raise HetrecError(f"--dataset {cfg.dataset}: unknown kind; use one of {', '.join(LOADERS)}")
    data = Path(cfg.data)
    if not data.is_dir():
        raise HetrecError(f"--data {data}: no such directory; point it at the {cfg.dataset} files")
    out = Path(cfg.out)
    if cfg.split_file is not None and cfg.split != "given":
        raise HetrecError(f"--split-file {cfg.split_file} needs --split given")
    from hetrec.checks import NONNEG_INT, POSITIVE_INT, SEED, numbers

    numbers(cfg, {"top_tags": POSITIVE_INT, "min_user": NONNEG_INT, "min_item": NONNEG_INT, "similar_k": NONNEG_INT,
                  "seed": SEED, "rating_threshold": {"optional": True}, "valid_frac": {"min": 0, "max": 1},
                  "test_frac": {"min": 0, "max": 1}, "cold_frac": {"min": 0, "max": 1},
                  "cold_min": POSITIVE_INT})

    t0 = time.perf_counter()
    say(f"loading {cfg.dataset} from {data} ...")
    dataset = LOADERS[cfg.dataset](data, cfg)
    method = cfg.split
    if method == "loo" and dataset.given_split is not None:  # default: the split the dataset comes with
        method = "given"
    if method == "loo" and not dataset.timed:
        raise HetrecError(f"{data}: interactions have no time order, so leave-one-out is undefined; use --split random")
    try:
        split_cfg = SplitConfig(rating_threshold=cfg.rating_threshold, min_user=cfg.min_user,
                                min_item=cfg.min_item, method=method, valid_frac=cfg.valid_frac,
                                test_frac=cfg.test_frac, seed=cfg.seed, cold_frac=cfg.cold_frac,
                                cold_min=cfg.cold_min)
    except ValueError as e:
        raise HetrecError(f"--split options: {e}") from None
    given, source, inputs = dataset.given_split, dataset.given_source, dict(dataset.sources)
    if method == "given" and cfg.split_file is not None:
        given, source = read_split_file(cfg.split_file), str(cfg.split_file)
        inputs.update(fingerprints(cfg.split_file))
    elif method == "given" and given is None:
        raise HetrecError(f"--split given: {data} has no split of its own; pass --split-file PATH "
                          "(user_id,item_id,part)")
    say(f"  {len(dataset.interactions):,} interactions, {len(dataset.users):,} users, "
        f"{len(dataset.items):,} items ({time.perf_counter() - t0:.1f}s)")
    say(f"splitting ({method}) ...")
    split, split_stats = split_with_stats(dataset.interactions, split_cfg, given, source=source)
    if len(split) == 0:
        raise HetrecError(f"{data}: no interactions left after the threshold/min-count filters; relax them")
    say(f"  {int((split['split'] == 'train').sum()):,} train interactions ({time.perf_counter() - t0:.1f}s)")
    say("building the heterograph ...")
    cold = split_stats.get("cold_item_ids") if method == "cold-items" else None
    built = build_graph(dataset, split, similar_k=cfg.similar_k, similar_on=cfg.similar_on, cold_items=cold)
    say(f"  {built.graph.num_edges():,} edges in {len(built.graph.canonical_etypes)} relations "
        f"({time.perf_counter() - t0:.1f}s)")
    say(f"writing {out} ...")
    with atomic_dir(out, force=cfg.force, stage="build_graph", inputs=(cfg.data, cfg.catalog, cfg.split_file)) as tmp:
        manifest = write_graph_artifact(
            built, tmp, config=cfg.resolved(), inputs=inputs,
            dataset={"name": dataset.name, "kind": cfg.dataset, "timed": dataset.timed, "split": method,
                     "stats": {**dataset.stats, **split_stats, **built.stats}},
            paths={"data": str(data)}, wall_s=round(time.perf_counter() - t0, 3))
    return GraphArtifact(path=out, graph=built.graph, manifest=manifest, item_type=built.item_type,
                         splits=built.splits, id_maps=built.id_maps, items=built.items,
                         fingerprint=manifest["fingerprint"])


def summary_rows(artifact) -> tuple[list[dict], list[dict], list[dict]]:
    """Rows for the report: node counts per type, edge counts per relation, split sizes."""
    g = artifact.graph
    nodes = [{"node type": t, "nodes": int(g.num_nodes(t))} for t in g.ntypes]
    edges = [{"relation": f"({s}, {r}, {d})", "edges": int(g.num_edges((s, r, d)))} for s, r, d in g.canonical_etypes]
    sizes = artifact.manifest["splits"]
    splits = [{"split": k, "interactions": int(v)} for k, v in sizes.items()]
    return nodes, edges, splits
