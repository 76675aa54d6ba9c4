"""Stage ``finetune``: train a recommender with BPR on a graph artifact, optionally from pretrained embeddings.

Why a partial directory: the run directory appears atomically at the end (``atomic_dir``), but a long run
must survive Ctrl-C. Progress lives in a sibling ``.<name>.partial/checkpoint.pt``, rewritten after every
epoch; ``resume=True`` continues from it, and success renames the finished run into place and removes it.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn

from hetrec.artifacts import atomic_dir, claim_output, file_fingerprint, read_manifest, write_json, write_manifest
from hetrec.device import resolve_device, seed_everything
from hetrec.errors import HetrecError
from hetrec.model.attr_lightgcn import ENCODERS, KG_OBJECTIVES
from hetrec.sampler.bpr import InteractionIndex
from hetrec.evaluator.protocol import candidates_of, cold_items, evaluate_embeddings
from hetrec.trainer import checkpoint as ck
from hetrec.trainer import distributed
from hetrec.trainer.loop import LoopConfig, LoopState, fit

STAGE = "finetune"
GNN_MODELS = ("lightgcn", "lightgcn-attr", "mf", "ramgnn", "popular")  # trained with BPR (popular: counted, nothing to train)
CLOSED_FORMS = ("ease", "itemknn", "gfcf", "attrknn", "ease-si")  # fitted in closed form, grid on validation
MODELS = GNN_MODELS + CLOSED_FORMS
COLD_CAPABLE = ("popular", "ramgnn", "lightgcn-attr", "attrknn", "ease-si")
DEFAULT_LR = {"lightgcn": 1e-2, "lightgcn-attr": 1e-2, "mf": 5e-3, "ramgnn": 1e-3}  # best measured (docs/benchmarks.md)  # models with a score for items without interactions
CHECKPOINT, EMBEDDINGS, LOG, METRICS = "checkpoint.pt", "final_embeddings.pt", "train_log.csv", "metrics.json"


@dataclass(frozen=True)
class FinetuneConfig:
    graph: Path  # build-graph artifact directory
    out: Path  # run directory to write
    model: str = "lightgcn"  # one of MODELS
    init: Path | None = None  # pretrain artifact whose embeddings.pt initialises layer 0; None = random
    dim: int = 64  # embedding size
    layers: int = 3  # propagation layers (lightgcn, ramgnn)
    lr: float | None = None  # Adam learning rate; None = the model's best measured one (DEFAULT_LR)
    reg: float = 1e-4  # L2 weight on the batch's layer-0 embeddings
    id_dropout: float = 0.0  # lightgcn-attr: probability of dropping a warm item's ID row in training
    cl_weight: float = 0.0  # lightgcn-attr: weight of SimGCL's contrastive loss (0 = off)
    cl_eps: float = 0.1  # lightgcn-attr: SimGCL noise radius
    kg_weight: float = 0.0  # lightgcn-attr: weight of the joint link-prediction loss on the KG/attribute edges
    encoder: str = "mean"  # lightgcn-attr: mean | relation (a W_r per relation, R-GCN's) | attention (KGAT's)
    kgcl_weight: float = 0.0  # lightgcn-attr: weight of the KG-view contrastive loss (0 = off)
    kg_drop: float = 0.2  # lightgcn-attr: edge-drop probability of the augmented KG view
    kg_loss: str = "link"  # lightgcn-attr: the joint KG loss, link (R-GCN-style) | transr (KGAT's, --encoder attention)
    batch_size: int = 2048  # BPR triples per step
    epochs: int = 300  # upper bound; early stopping on val NDCG@10 usually ends sooner
    patience: int = 10  # validations without improvement before stopping
    eval_every: int = 1  # epochs between validations
    seed: int = 0  # python/numpy/torch seeds and the sampling generator
    device: str = "auto"  # auto | cpu | cuda
    tune: bool = False  # train every point of the model's grid (hetrec/stages/tune.py), keep validation's best
    resume: bool = False  # continue the interrupted run in .<out>.partial/
    force: bool = False  # replace an existing --out (and discard a stale partial)

    def resolved(self) -> dict:
        """Settings that shape the result (paths, device and run control excluded)."""
        d = asdict(self)
        for k in ("graph", "out", "init", "device", "resume", "force"):
            d.pop(k)
        d["lr"] = self.learning_rate  # the rate actually used, also when it came from DEFAULT_LR
        if not self.tune:
            d.pop("tune")  # untuned runs keep the fingerprints they had before --tune existed
        return d

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR.get(self.model, 1e-3)

    def resume_key(self) -> dict:
        """What a resumed run must share with the interrupted one: ``resolved()`` less the epoch cap,
        which may be raised or lowered on resume."""
        return {k: v for k, v in self.resolved().items() if k != "epochs"}

    def loop(self) -> LoopConfig:
        return LoopConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.learning_rate, reg=self.reg,
                          patience=self.patience, eval_every=self.eval_every)


def partial_dir(out: str | Path) -> Path:
    """Where an in-progress run keeps its per-epoch checkpoint."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"


def build_model(cfg: FinetuneConfig, artifact, init: dict | None, modules: dict | None = None) -> nn.Module:
    """The recommender named by ``cfg.model`` sized from the artifact; bad init tables become one-line errors.
    ``modules``: the pretraining's ``relation_transforms`` / ``relation_attention`` (init contract), which
    ``lightgcn-attr --encoder relation|attention`` starts from."""
    n_u, n_i, it = artifact.num_users, artifact.num_items, artifact.item_type
    try:
        if cfg.model == "mf":
            from hetrec.model.mf import MF
            return MF(n_u, n_i, cfg.dim, init=init, item_type=it)
        if cfg.model == "lightgcn":
            from hetrec.model.lightgcn import LightGCN
            return LightGCN(n_u, n_i, cfg.dim, num_layers=cfg.layers, item_type=it, init=init)
        if cfg.model == "lightgcn-attr":
            from hetrec.model.attr_lightgcn import AttrLightGCN, side_inputs
            g = artifact.graph
            rels = [c for t in ("user", it) for c in side_inputs(g, t, it)]
            return AttrLightGCN(n_u, n_i, cfg.dim, side_sizes={c[0]: g.num_nodes(c[0]) for c in rels},
                                warm=~cold_items(artifact), num_layers=cfg.layers, item_type=it, init=init,
                                id_dropout=cfg.id_dropout, cl_weight=cfg.cl_weight, cl_eps=cfg.cl_eps,
                                kg_weight=cfg.kg_weight, encoder=cfg.encoder, relations=rels,
                                transforms=(modules or {}).get("relation_transforms"),
                                attention=_attention_by_message(g, rels, (modules or {}).get("relation_attention")),
                                kgcl_weight=cfg.kgcl_weight, kg_drop=cfg.kg_drop, kg_objective=cfg.kg_loss)
        if cfg.model == "ramgnn":
            from hetrec.model.ramgnn_rec import RAMGNNRec, item_attribute_sizes
            return RAMGNNRec(n_u, n_i, cfg.dim, attribute_sizes=item_attribute_sizes(artifact.graph, it),
                             item_type=it, num_layers=cfg.layers, init=init)
        from hetrec.model.popular import Fixed, popularity_embeddings
        return Fixed(*popularity_embeddings(artifact.graph, it))
    except ValueError as e:
        where = f"--init {cfg.init}: " if init is not None else ""
        raise HetrecError(f"{where}{e}") from None


def _attention_by_message(graph, rels, attention: dict | None) -> dict | None:
    """KGAT's attention is keyed by the triple's relation ``(item, has_genre, genre)``, whose messages flow tail ->
    head; the encoder's relation for those messages is the reverse ``(genre, genre_of, item)``."""
    if not attention:
        return None
    from hetrec.graph.relations import reverse_of

    out = {}
    for c in rels:
        fwd = reverse_of(graph, c)
        if fwd is not None and fwd[1] in attention:
            out[c[1]] = attention[fwd[1]]
    return out


def load_init(path: Path | None, artifact) -> tuple[dict | None, str | None, dict | None]:
    """``(node tables, pretrain fingerprint, {relation_transforms, relation_attention} where exported)`` from a
    pretrain artifact made on this very graph (docs/architecture.md, the init contract)."""
    if path is None:
        return None, None, None
    path = Path(path)
    if not path.is_dir():
        raise HetrecError(f"--init {path}: no such directory; pass a `hetrec pretrain` output or 'none'")
    manifest = read_manifest(path, stage="pretrain")
    graph_fp = (manifest.get("inputs") or {}).get("graph") or manifest.get("graph_fingerprint")
    if graph_fp != artifact.fingerprint:
        raise HetrecError(f"--init {path}: pretrained on a different graph (fingerprint {graph_fp}, "
                          f"--graph has {artifact.fingerprint}); pretrain on this graph first")
    emb_file = path / "embeddings.pt"
    if not emb_file.is_file():
        raise HetrecError(f"{emb_file}: missing; the pretrain artifact is incomplete, rerun pretrain with --force")
    emb = torch.load(emb_file, map_location="cpu", weights_only=True)
    if not isinstance(emb, dict) or not isinstance(emb.get("node"), dict):
        raise HetrecError(f"{emb_file}: expected {{'node': {{ntype: tensor}}, ...}}; rerun pretrain")
    return emb["node"], manifest["fingerprint"], {k: emb[k] for k in ("relation_transforms", "relation_attention")
                                                  if k in emb}


def _check(cfg: FinetuneConfig) -> None:
    from hetrec.checks import NONNEG_INT, POSITIVE_INT, SEED, numbers

    if cfg.model not in MODELS:
        raise HetrecError(f"--model {cfg.model}: unknown; use one of {', '.join(MODELS)}")
    if cfg.model in CLOSED_FORMS and cfg.init is not None:
        raise HetrecError(f"--model {cfg.model} is a closed form with nothing to initialise; use --init none")
    numbers(cfg, {"dim": POSITIVE_INT, "batch_size": POSITIVE_INT, "patience": POSITIVE_INT,
                  "eval_every": POSITIVE_INT, "epochs": NONNEG_INT, "layers": NONNEG_INT, "seed": SEED,
                  "lr": {"min": 0, "min_open": True, "optional": True}, "reg": {"min": 0},
                  "id_dropout": {"min": 0, "max": 0.99}, "cl_weight": {"min": 0}, "cl_eps": {"min": 0},
                  "kg_weight": {"min": 0}, "kgcl_weight": {"min": 0}, "kg_drop": {"min": 0, "max": 0.99}})
    if cfg.tune and cfg.resume:
        raise HetrecError("--resume does not apply to --tune: rerun the same --tune command; finished grid points "
                          "are reused and an interrupted one resumes")
    if cfg.tune and distributed.launched_by_torchrun():
        raise HetrecError("--tune runs one process; launch it without torchrun")
    if cfg.encoder not in ENCODERS:
        raise HetrecError(f"--encoder {cfg.encoder}: unknown; use one of {', '.join(ENCODERS)}")
    if cfg.kg_loss not in KG_OBJECTIVES:
        raise HetrecError(f"--kg-loss {cfg.kg_loss}: unknown; use one of {', '.join(KG_OBJECTIVES)}")
    attr_only = {"id_dropout": 0.0, "cl_weight": 0.0, "kg_weight": 0.0, "kgcl_weight": 0.0, "encoder": "mean",
                 "kg_loss": "link"}  # options of lightgcn-attr, at their "off" values
    if cfg.model != "lightgcn-attr":
        for name, off in attr_only.items():
            if getattr(cfg, name) != off:
                raise HetrecError(f"--{name.replace('_', '-')} applies to --model lightgcn-attr only, "
                                  f"not {cfg.model}")
    if cfg.kg_loss == "transr" and cfg.encoder != "attention":
        raise HetrecError("--kg-loss transr scores with the attention encoder's W_r and e_r; add --encoder attention")


def _prepare_dirs(cfg: FinetuneConfig) -> Path:
    """Refuse clashing outputs before any work; returns the partial directory."""
    out, partial = Path(cfg.out), partial_dir(cfg.out)
    if cfg.resume and not (partial / CHECKPOINT).is_file():
        raise HetrecError(f"--resume: nothing to resume for {out} (no {partial / CHECKPOINT}); run without --resume")
    if partial.exists() and not cfg.resume:
        if not cfg.force:
            raise HetrecError(f"an interrupted run of {out} is in {partial}; pass --resume to continue it "
                              "or --force to start over")
        shutil.rmtree(partial)
    return partial


@distributed.launched  # under torchrun: data-parallel over ranks, rank 0 writes (hetrec/trainer/distributed.py)
def run(cfg: FinetuneConfig, *, log: Callable[[str], None] | None = None, progress=None,
        on_batch: Callable[[int, int], None] | None = None) -> dict:
    """Train, then write the run directory; returns a summary with val/test metrics of the best model.

    ``log`` gets status lines, ``progress`` is ``hetrec.report.progress`` (the CLI passes both);
    ``on_batch(epoch, batch)`` runs before every optimiser step (tests interrupt through it).
    """
    _check(cfg)
    with distributed.main_only(claim_output(cfg.out, stage=STAGE, force=cfg.force, inputs=(cfg.graph, cfg.init))):
        if cfg.tune:
            from hetrec.stages.tune import tune
            return tune(cfg, run, log=log, progress=progress)
        return _run(cfg, log=log, progress=progress, on_batch=on_batch)


def _run(cfg: FinetuneConfig, *, log=None, progress=None, on_batch=None) -> dict:
    from hetrec.graph.artifact import load_graph_artifact

    say = log or (lambda _m: None)
    partial = _prepare_dirs(cfg)
    artifact = load_graph_artifact(cfg.graph)
    init, init_fp, modules = load_init(cfg.init, artifact)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed, device)
    if cfg.model in CLOSED_FORMS:
        from hetrec.stages.closed_form import run_closed_form
        return run_closed_form(cfg, artifact, device, say)
    model = build_model(cfg, artifact, init, modules).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.learning_rate) if params else None
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    n_u, n_i = artifact.num_users, artifact.num_items
    train = InteractionIndex(*artifact.pairs("train"), n_u, n_i, device=device)
    valid_target = artifact.pairs("valid")
    state, elapsed, resumed_from = LoopState(patience=cfg.patience), 0.0, None

    if cfg.resume:
        saved = ck.load_checkpoint(partial / CHECKPOINT)
        if {k: v for k, v in (saved.get("config") or {}).items() if k != "epochs"} != cfg.resume_key() \
                or saved.get("graph") != artifact.fingerprint \
                or saved.get("init") != init_fp:
            raise HetrecError(f"--resume: {partial} was started with other settings, graph or --init; "
                              "repeat the original options or start over with --force")
        model.load_state_dict(saved["model"])
        if optimizer is not None:
            optimizer.load_state_dict(saved["optimizer"])
        state.load_state_dict(saved["loop"])
        ck.set_rng_state(saved["rng"], generator)
        elapsed, resumed_from = float(saved["elapsed"]), state.epoch
        say(f"resuming {cfg.out} after epoch {state.epoch}")

    unscorable = unscorable_items(cfg.model, artifact, train)

    def validate(user_emb, item_emb) -> dict:
        return evaluate_embeddings(artifact, user_emb, item_emb, "val", ks=(10, 20), train_index=train,
                                   candidates=candidates_of(artifact),
                                   unscorable=unscorable)

    validate = distributed.on_main(validate)  # torchrun: rank 0 validates, every rank gets its metrics

    t_start = time.perf_counter()

    def on_epoch(st: LoopState) -> None:
        if not distributed.is_main():
            return
        partial.mkdir(parents=True, exist_ok=True)
        ck.save_checkpoint(partial / CHECKPOINT, config=cfg.resolved(), graph=artifact.fingerprint, init=init_fp,
                           model=model.state_dict(), optimizer=optimizer.state_dict(), loop=st.state_dict(),
                           rng=ck.rng_state(generator), elapsed=elapsed + time.perf_counter() - t_start)

    if optimizer is not None:
        try:
            state = fit(model, artifact.graph, train, validate if len(valid_target[0]) else None, cfg.loop(),
                        optimizer=optimizer, generator=generator, state=state, on_epoch=on_epoch,
                        on_batch=on_batch, progress=progress, shard=distributed.shard())
        except KeyboardInterrupt:
            if (partial / CHECKPOINT).is_file():
                done = ck.load_checkpoint(partial / CHECKPOINT)["loop"]["epoch"]
                raise HetrecError(f"interrupted; {done} epoch(s) kept in {partial}; "
                                  "resume with --resume (same options)") from None
            raise HetrecError("interrupted before the first epoch ended; nothing was kept") from None
        model.load_state_dict(state.best_model)
    wall = elapsed + time.perf_counter() - t_start

    user_emb, item_emb = (t.detach() for t in model(artifact.graph))
    metrics = {split: evaluate_embeddings(artifact, user_emb, item_emb, split, train_index=train,
                                          candidates=candidates_of(artifact),
                                          unscorable=unscorable)
               for split in ("val", "test")}
    best_epoch = state.stopper.best_epoch if state.stopper.best is not None else state.epoch
    train_s = [r["seconds"] for r in state.history]
    summary = {"out": str(cfg.out), "model": cfg.model, "device": str(device), "epochs_run": state.epoch,
               "best_epoch": best_epoch, "stopped_early": state.stopped, "resumed_from": resumed_from,
               "seconds_per_epoch": sum(train_s) / len(train_s) if train_s else 0.0, "wall_s": wall,
               "metrics": metrics}
    if not distributed.is_main():
        return summary
    with atomic_dir(cfg.out, force=cfg.force, stage=STAGE, inputs=(cfg.graph, cfg.init)) as tmp:
        ck.save_checkpoint(tmp / CHECKPOINT, config=cfg.resolved(), graph=artifact.fingerprint, init=init_fp,
                           model=model.state_dict(), optimizer=optimizer.state_dict() if optimizer else {},
                           loop=state.state_dict(), rng=ck.rng_state(generator), elapsed=wall)
        torch.save({"user": user_emb.cpu(), "item": item_emb.cpu(), "unscorable": unscorable}, tmp / EMBEDDINGS)
        pd.DataFrame(state.history, columns=_log_columns(state.history)).to_csv(tmp / LOG, index=False)
        write_json(tmp / METRICS, metrics)
        write_manifest(tmp, stage=STAGE, config=cfg.resolved(),
                       inputs={"graph": artifact.fingerprint, "init": init_fp},
                       counts={"users": n_u, "items": n_i, "train_pairs": train.nnz,
                               "parameters": sum(p.numel() for p in params)},
                       metrics=metrics, seed=cfg.seed, device=str(device), item_type=artifact.item_type,
                       paths={"graph": str(Path(cfg.graph).resolve()),
                              "init": str(Path(cfg.init).resolve()) if cfg.init else None},
                       training={k: summary[k] for k in ("epochs_run", "best_epoch", "stopped_early",
                                                         "resumed_from", "seconds_per_epoch")},
                       embeddings_sha=file_fingerprint(tmp / EMBEDDINGS), wall_s=round(wall, 3))
    shutil.rmtree(partial, ignore_errors=True)
    say(f"wrote {cfg.out} ({state.epoch} epochs, best {best_epoch}, {wall:.1f}s)")
    return summary


def _log_columns(history: list[dict]) -> list[str]:
    cols = ["epoch", "loss"]
    for row in history:
        cols += [c for c in row if c not in cols]
    return cols


def unscorable_items(model: str, artifact, train: InteractionIndex):
    """Items this model has no score for (ID embeddings of items without train interactions), or None."""
    if model in COLD_CAPABLE:
        return None
    cold = cold_items(artifact, train)
    return cold if bool(cold.any()) else None
