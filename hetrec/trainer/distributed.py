"""Data-parallel training over ``torch.distributed``, launched by ``torchrun``: one process per rank.

What a rank does (the rest of hetrec stays single-process code with a few hooks):

- **setup/teardown**: :func:`launched` wraps a stage's ``run``; under torchrun (``WORLD_SIZE``, ``RANK``,
  ``LOCAL_RANK`` set) it joins the process group (``gloo`` on CPU, ``nccl`` on CUDA, chosen from ``--device``,
  with a timeout on every collective) and leaves it afterwards. Without torchrun it calls ``run`` unchanged.
- **same seed, same global batch**: every rank draws the *same* global batch from the same generator and keeps
  the slice ``batch[rank::world]`` (:func:`shard`, applied by ``hetrec.sampler.bpr.bpr_batches``); the
  generator advances identically on every rank, so epoch after epoch the ranks agree on what the batch was.
- **gradients**: while a session is open, every ``optimizer.step()`` first averages the gradients of that
  optimizer's parameters across ranks (one ``all_reduce`` of a flat buffer, through torch's global optimizer
  step pre-hook). Ranks start from rank 0's parameters: the fine-tuning loop broadcasts them at every epoch
  start (:func:`broadcast_parameters`, as DDP does at construction; it also covers ``--resume``), and the first
  step of any other optimizer checks that the ranks agree (same seed, same init) and stops with one line if not.
  Why not ``DistributedDataParallel``: the models propagate over the whole graph in every step and several
  pretraining methods drive two optimizers or leave parameters without gradient in a step; averaging at the
  optimizer boundary covers all of them without touching their code. A parameter that got no
  gradient on any rank keeps ``grad = None``, exactly as in a single process.
- **validation and early stopping**: :func:`on_main` runs validation on rank 0 only and broadcasts the metrics;
  every rank then steps its early stopper with identical numbers, so all ranks agree on "improved" and "stop".
- **artifacts**: :func:`is_main` — rank 0 alone writes checkpoints and the artifact (atomically, as usual).
- **failures**: every collective runs under the process-group timeout; a rank that died or stalled turns into
  one :class:`HetrecError` line on the surviving ranks instead of a hang.

Nothing here implements communication: it is ``torch.distributed`` collectives and ``torchrun``'s rendezvous.
"""
from __future__ import annotations

import functools
import os
import weakref
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Callable, Iterator, TypeVar

import torch
import torch.distributed as dist
from torch.optim.optimizer import register_optimizer_step_pre_hook

from hetrec.device import resolve_device
from hetrec.errors import HetrecError

ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK")  # set by torchrun for every worker
TIMEOUT_ENV = "HETREC_DIST_TIMEOUT"  # seconds a collective (or the rendezvous) may wait for the other ranks
DEFAULT_TIMEOUT_S = 300

F = TypeVar("F", bound=Callable[..., Any])
_synced: "weakref.WeakSet[torch.optim.Optimizer]" = weakref.WeakSet()  # optimizers whose params were broadcast


def launched_by_torchrun() -> bool:
    """True when this process is one worker of a torchrun (or equivalent) launch."""
    return all(k in os.environ for k in ENV)


def env_rank() -> int:
    """This worker's rank from the launcher's environment (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0")) if launched_by_torchrun() else 0


def timeout_s() -> int:
    try:
        value = int(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        raise HetrecError(f"{TIMEOUT_ENV}={os.environ[TIMEOUT_ENV]!r}: expected whole seconds") from None
    if value <= 0:
        raise HetrecError(f"{TIMEOUT_ENV}={value}: must be positive")
    return value


def active() -> bool:
    """True inside a session with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0, or a plain single-process run: the one process that writes artifacts and reports."""
    return rank() == 0


def shard() -> tuple[int, int] | None:
    """``(rank, world_size)`` for ``bpr_batches(..., shard=...)``; None outside a multi-rank session."""
    return (rank(), world_size()) if active() else None


def _where() -> str:
    return f"rank {rank()} of {world_size()}"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def _collective(what: str, fn: Callable[[], Any]) -> Any:
    """Run one torch.distributed call; a peer's death or a timeout becomes one HetrecError line."""
    try:
        return fn()
    except HetrecError:
        raise
    except Exception as e:  # gloo/nccl raise RuntimeError or DistError subclasses
        raise HetrecError(f"{_where()}: {what} failed — another rank died or stalled longer than {timeout_s()}s "
                          f"({_first_line(e)}); the job stops, rerun it (finetune: with --resume)") from None


def _average_gradients(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """Optimizer step pre-hook: average this optimizer's gradients over all ranks (one flat all_reduce)."""
    if not active():
        return
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not params:
        return
    if optimizer not in _synced:  # the gradients just computed are only comparable if the ranks agree
        if not broadcast_parameters(params):
            raise HetrecError(f"{_where()}: the ranks started from different parameters (seed every rank alike, "
                              "or call distributed.broadcast_parameters before the first step)")
        _synced.add(optimizer)
    if any(p.grad is not None and p.grad.is_sparse for p in params):
        raise HetrecError("data-parallel training does not average sparse gradients; use dense embeddings")
    ref = params[0]
    grads = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=ref.dtype,
                                                                      device=ref.device) for p in params]
    present = torch.tensor([float(p.grad is not None) for p in params], dtype=ref.dtype, device=ref.device)
    flat = torch.cat([*grads, present])
    _collective("all_reduce of gradients", lambda: dist.all_reduce(flat, op=dist.ReduceOp.SUM))
    sizes = [p.numel() for p in params]
    parts = flat[:-len(params)].split(sizes)
    seen = flat[-len(params):] > 0
    world = float(world_size())
    for p, part, has in zip(params, parts, seen.tolist()):
        if has:
            p.grad = (part / world).view_as(p).to(p.dtype)
        else:
            p.grad = None


def broadcast_parameters(params) -> bool:
    """Copy rank 0's values into ``params`` (a module or an iterable of tensors) on every rank, as DDP does at
    construction; returns whether this rank already held them. A no-op returning True when not distributed."""
    params = list(params.parameters() if isinstance(params, torch.nn.Module) else params)
    if not active() or not params:
        return True
    with torch.no_grad():
        mine = torch.cat([p.detach().reshape(-1) for p in params])
        flat = mine.clone()
        _collective("broadcast of the parameters", lambda: dist.broadcast(flat, src=0))
        for p, part in zip(params, flat.split([p.numel() for p in params])):
            p.copy_(part.view_as(p))
    return bool(torch.equal(mine, flat))


def main_only(ctx):
    """``ctx`` on rank 0 (or without torchrun), a no-op context elsewhere: e.g. the output lock, which one
    process of the job holds for all."""
    from contextlib import nullcontext

    return ctx if is_main() else nullcontext()


def on_main(fn: F) -> F:
    """``fn`` run on rank 0 only, its (picklable) result broadcast to every rank; ``fn`` itself when not distributed.

    Validation goes through here: one rank computes the metrics, all ranks receive the same numbers and so take
    the same early-stopping decision.
    """
    if not active():
        return fn

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        box = [fn(*args, **kwargs) if is_main() else None]
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
        _collective("broadcast of the validation result", lambda: dist.broadcast_object_list(box, src=0,
                                                                                             device=device))
        return box[0]

    return wrapped  # type: ignore[return-value]


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Per-key mean over ranks of scalar logs (each rank's loss on its slice); unchanged when not distributed."""
    if not active() or not values:
        return values
    keys = sorted(values)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    _collective("all_reduce of the epoch's losses", lambda: dist.all_reduce(t, op=dist.ReduceOp.SUM))
    t /= world_size()
    return {**values, **dict(zip(keys, t.tolist()))}


def sum_over_ranks(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Element-wise sums over ranks of scalar tensors (e.g. loss total and triple count of an epoch)."""
    if not active():
        return tensors
    t = torch.stack([x.to(torch.float64) for x in tensors])
    _collective("all_reduce of the epoch's loss", lambda: dist.all_reduce(t, op=dist.ReduceOp.SUM))
    return tuple(t.unbind())


def barrier(what: str = "barrier") -> None:
    if active():
        _collective(what, dist.barrier)


@contextmanager
def session(device: str = "auto") -> Iterator[None]:
    """Join torchrun's process group for the block (backend from ``device``); a no-op without torchrun."""
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        yield
        return
    world, rank_, local = (int(os.environ[k]) for k in ENV)
    dev = resolve_device(device)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(local)
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    t = timeout_s()
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=t))
    except Exception as e:
        raise HetrecError(f"rank {rank_} of {world}: could not join the process group at {where} ({backend}) "
                          f"within {t}s ({_first_line(e)})") from None
    hook = register_optimizer_step_pre_hook(_average_gradients)
    try:
        yield
    finally:
        hook.remove()
        try:
            dist.destroy_process_group()
        except Exception:  # a broken group after a peer's death: nothing left to release cleanly
            pass


def launched(run: F) -> F:
    """Decorate a stage's ``run(cfg, ...)``: under torchrun it runs inside :func:`session` (``cfg.device``)."""

    @functools.wraps(run)
    def wrapper(cfg, *args, **kwargs):
        if not launched_by_torchrun():
            return run(cfg, *args, **kwargs)
        with session(getattr(cfg, "device", "auto")):
            return run(cfg, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
