"""DistDGL on one machine: graph servers over ``partition-graph`` output and trainers that sample from them.

Status with DGL 2.1.0 on this torch (docs/cluster.md, tests/trainer/test_distgraph.py, marked xfail): the
graph server does not start. ``DistGraphServer`` calls ``_format_partition``, which tests
``isinstance(graph, dgl.graphbolt.FusedCSCSamplingGraph)``; GraphBolt is a placeholder here (hetrec/_compat.py:
DGL ships no GraphBolt library for torch > 2.2.1), so the server dies with ``AttributeError: module
'dgl.graphbolt' has no attribute 'FusedCSCSamplingGraph'`` and trainers would wait for it forever. (Measured
by hand with a stand-in class for that name: servers start, ``DistGraph`` and ``dgl.distributed.sample_neighbors``
work, and ``NeighborSampler.sample_blocks`` over the DistGraph then fails with ``DGLError: Expect number of
features to match number of edges``.) The data-parallel path that works is torchrun over a full graph per rank
(hetrec/trainer/distributed.py).

The launch mirrors DGL's ``tools/launch.py`` for one host: an ip_config with one ``127.0.0.1 PORT`` line per
partition (each partition is a "machine" with one server), servers with ``DGL_ROLE=server``, trainers with
``DGL_ROLE=default`` plus torchrun's variables, so a trainer joins both DistDGL and torch.distributed. Every
process is bounded by ``timeout_s`` and stopped when the launch returns.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hetrec.errors import HetrecError


@dataclass
class Outcome:
    role: str  # "server k" or "trainer k"
    returncode: int | None  # None: still running when the launch ended (killed)
    stderr_tail: str


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def launch_local(part_config: str | os.PathLike, trainer_argv: list[str], *, num_trainers: int | None = None,
                 timeout_s: float = 60, workdir: str | os.PathLike | None = None) -> list[Outcome]:
    """Run one server per partition and ``num_trainers`` trainers (default: one per partition) on 127.0.0.1.

    Returns when every trainer has exited, any process failed, or ``timeout_s`` passed; all processes still
    running are then killed. ``trainer_argv`` is the trainer's command (e.g. ``[python, script.py, ...]``).
    """
    part_config = Path(part_config).resolve()
    parts = int(json.loads(part_config.read_text())["num_parts"])
    num_trainers = num_trainers or parts
    if num_trainers % parts:
        raise HetrecError(f"{num_trainers} trainers over {parts} partitions: DistDGL needs the same number per machine")
    workdir = Path(workdir or part_config.parent)
    ip_config = workdir / "ip_config.txt"
    ports = _free_ports(parts + 1)
    ip_config.write_text("".join(f"127.0.0.1 {p}\n" for p in ports[:parts]))
    common = {**os.environ, "DGL_IP_CONFIG": str(ip_config), "DGL_NUM_SERVER": "1", "DGL_DIST_MODE": "distributed",
              "DGL_CONF_PATH": str(part_config), "DGL_NUM_CLIENT": str(num_trainers), "DGL_GRAPH_FORMAT": "csc",
              "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    serve = [sys.executable, "-c", "import hetrec, os, dgl; dgl.distributed.initialize(os.environ['DGL_IP_CONFIG'])"]
    procs: list[tuple[str, subprocess.Popen]] = []
    try:
        for k in range(parts):
            env = {**common, "DGL_ROLE": "server", "DGL_SERVER_ID": str(k)}
            procs.append((f"server {k}", subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL,
                                                          stderr=subprocess.PIPE, text=True)))
        for r in range(num_trainers):
            env = {**common, "DGL_ROLE": "default", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(ports[-1]),
                   "WORLD_SIZE": str(num_trainers), "RANK": str(r), "LOCAL_RANK": str(r % (num_trainers // parts))}
            procs.append((f"trainer {r}", subprocess.Popen(trainer_argv, env=env, stdout=subprocess.DEVNULL,
                                                           stderr=subprocess.PIPE, text=True)))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            codes = {role: p.poll() for role, p in procs}
            if any(c not in (None, 0) for c in codes.values()):
                break
            if all(codes[role] is not None for role, _ in procs if role.startswith("trainer")):
                break
            time.sleep(0.2)
    finally:
        for _, p in procs:
            if p.poll() is None:
                p.kill()
    outcomes = []
    for role, p in procs:
        err = p.communicate(timeout=10)[1] or ""
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        outcomes.append(Outcome(role, p.returncode if p.returncode is not None and p.returncode >= 0 else None,
                                "\n".join(lines[-3:])))
    return outcomes


def connect(part_config: str | os.PathLike, graph_name: str = "hetrec"):
    """Trainer side: join the DistDGL servers (``DGL_*`` variables set by :func:`launch_local`) and open the graph."""
    import hetrec  # noqa: F401  (DGL shim before dgl)
    import dgl

    dgl.distributed.initialize(os.environ["DGL_IP_CONFIG"])
    return dgl.distributed.DistGraph(graph_name, part_config=str(part_config))
