"""bench/gpu.sh and bench/gpu_figures.py must not rot while no GPU is lent: a quick in-process CPU smoke of every
step at tiny scale (default suite), and the whole script as a CPU dry run (``-m slow``)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def test_gpu_sh_is_valid_bash_and_runs_every_step():
    import gpu_figures

    script = (REPO / "bench" / "gpu.sh").read_text()
    subprocess.run(["bash", "-n", str(REPO / "bench" / "gpu.sh")], check=True)
    called = set(re.findall(r"^\s*step (\S+)", script, re.M))
    called |= set(re.search(r"for s in ([^;]+);", script).group(1).split())
    assert set(gpu_figures.STEPS) <= called | {"pytest"} and "pytest" in called
    quick, full = re.findall(r"declare -A BUDGET=\(([^)]*)\)", script)
    for block in (quick, full):
        budgets = dict(re.findall(r"\[([\w-]+)\]=(\d+)", block))
        assert set(budgets) == {"env", *gpu_figures.STEPS}
    assert sum(map(int, budgets.values())) <= 480  # the full run's steps fit the 8-minute budget


def test_gpu_figures_steps_and_table_on_cpu(tmp_path, monkeypatch):
    import gpu_figures

    monkeypatch.chdir(REPO)
    common = ["--device", "cpu", "--scale", "0.003", "--work", str(tmp_path / "work"), "--out", str(tmp_path),
              "--ft-epochs", "1", "--ft-batch", "8192", "--pt-batch", "4096", "--dim", "16"]
    for step in ("env", "data", "kernels", "finetune", "evaluate", "pretrain-rgcn", "pretrain-kgat",
                 "pretrain-ramgnn"):
        gpu_figures.main([step, *common])
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "pytest.log").write_text("17 passed, 228 deselected in 6.7s\n")
    table = gpu_figures.make_table(gpu_figures_args(gpu_figures, common))
    assert "17 passed" in table and "not run" not in table and "failed" not in table
    for stage in ("synth", "build-graph", "LightGCN layer, forward", "finetune lightgcn", "evaluate",
                  "pretrain rgcn sampled", "pretrain kgat sampled", "pretrain ramgnn sampled"):
        assert stage in table, stage
    assert (tmp_path / "gpu_figures.md").read_text().strip() == table.strip()


def gpu_figures_args(module, common):
    import argparse

    ns = argparse.Namespace(**{k.lstrip("-").replace("-", "_"): v for k, v in zip(common[::2], common[1::2])})
    ns.work, ns.out, ns.scale = Path(ns.work), Path(ns.out), float(ns.scale)
    return ns


@pytest.mark.slow
def test_gpu_sh_dry_run_on_cpu(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(["bash", "bench/gpu.sh", "--device", "cpu", "--scale", "0.005", "--quick"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    table = (tmp_path / "gpu_figures.md").read_text()
    assert "passed" in table and "failed" not in table and "timed out" not in table, table
