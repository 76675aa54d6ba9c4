"""Stage ``synth``: write a synthetic Goodbooks-10k directory (see :mod:`hetrec.data.synth`)."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from hetrec.artifacts import atomic_dir, write_manifest
from hetrec.data import synth
from hetrec.data.schema import fingerprints


@dataclass(frozen=True)
class SynthStageConfig:
    out: str  # directory to create (ratings.csv, books.csv, book_tags.csv, tags.csv, to_read.csv, manifest.json)
    synth: synth.SynthConfig = field(default_factory=synth.SynthConfig)  # scale, seed, catalogue
    force: bool = False  # replace an existing `out`


def run(cfg: SynthStageConfig) -> dict:
    """Generate and write atomically; returns the manifest (counts = rows per file)."""
    start = time.perf_counter()
    inputs = fingerprints(cfg.synth.books_csv) if cfg.synth.books_csv else {}
    with atomic_dir(cfg.out, force=cfg.force, stage="synth", inputs=(cfg.synth.books_csv,)) as tmp:
        counts = synth.write(synth.generate(cfg.synth), tmp)
        manifest = write_manifest(tmp, stage="synth", config=dataclasses.asdict(cfg.synth), inputs=inputs,
                                  counts=counts, seed=cfg.synth.seed, output=str(Path(cfg.out)),
                                  wall_s=round(time.perf_counter() - start, 2))
    return manifest
