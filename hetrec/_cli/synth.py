"""``hetrec synth``: synthetic Goodbooks-10k files in the real format, at any scale."""
from __future__ import annotations

import click

from hetrec import report
from hetrec.data.synth import SynthConfig
from hetrec.stages import synth

D = SynthConfig()


@click.command("synth")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory to create.")
@click.option("--users", default=D.users, show_default=True, type=click.IntRange(1))
@click.option("--books", default=D.books, show_default=True, type=click.IntRange(2))
@click.option("--ratings", default=D.ratings, show_default=True, type=click.IntRange(1), help="Target total ratings.")
@click.option("--tags", default=D.tags, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=D.seed, show_default=True, type=int)
@click.option("--books-csv", type=click.Path(dir_okay=False, exists=True),
              help="Real books.csv to use as the catalogue (keeps titles, authors, years, languages).")
@click.option("--force", is_flag=True, help="Replace an existing --out.")
def command(out, users, books, ratings, tags, seed, books_csv, force) -> None:
    """Write ratings.csv, books.csv, book_tags.csv, tags.csv, to_read.csv with planted structure."""
    cfg = synth.SynthStageConfig(out=out, force=force, synth=SynthConfig(
        users=users, books=books, ratings=ratings, tags=tags, seed=seed, books_csv=books_csv))
    manifest = synth.run(cfg)
    report.table([{"file": f"{k}.csv", "rows": v} for k, v in manifest["counts"].items()], title=f"synth -> {out}")
    report.message(f"wrote {out} in {manifest['wall_s']:.1f} s")
