"""Synthetic Goodbooks-10k at any scale, in the real file formats, with planted structure.

Why: the real ratings are not shipped; benchmarks and end-to-end tests need data of the
real shape whose side information genuinely predicts behaviour.

Generative model (dim ``d = 16``, every draw from one seeded ``numpy.random.Generator``
plus a ``torch.Generator`` seeded from it; same seed -> same bytes on the same machine):

1. Catalogue: each author, language code and year bin (:func:`year_bin`) gets a latent
   vector ``~ N(0, I/d)``. Synthetic catalogue: ~0.47 authors per book with Zipf-ish
   productivity (15% of books get a co-author), languages from a fixed table (10% empty),
   years mostly recent. With ``books_csv`` the real books keep titles, authors, years and
   languages, and their ``ratings_count`` becomes the popularity.
2. Book latent ``b = norm(0.8 mean(author vecs) + 0.3 lang + 0.4 year + 0.55 noise)``:
   books sharing an author (language, year) are close, so side information predicts them.
3. Popularity ``pop_b`` Zipf (``(rank+1)^-0.9``, book_id 1 most popular, as in the real file).
4. Users: ``u ~ N(0, I)``; ``k_u`` ratings (log-normal around ``ratings/users``, clipped to
   [0.17, 1.8] x the mean) and ``m_u ~ Poisson(0.15 k_u)`` to-reads. Each user's books are a
   draw without replacement from ``softmax(3 u.b + log pop_b)`` by Gumbel top-k (chunks of
   users, torch): the first ``k_u`` are rated, the next ``m_u`` go to to_read.csv.
5. Rating: ``s = 3 u.b + 0.3 z_b + 0.3 z_u + N(0, 0.5)`` cut at global quantiles so the
   shares of 1..5 stars match the real file (2/6/23/36/33 %).
6. Time: ratings.csv is grouped by user (like the real file) and in random order within a
   user; file row = time order.
7. Tags: tag vectors ``~ N(0, I/d)``, Zipf tag popularity; each book gets ``tags_per_book`` tags
   by Gumbel top-k of ``10 b.t + log pop_t`` (pop_t Zipf 0.8); count ~ book popularity x tag rank weight.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import torch

from hetrec.data import schema
from hetrec.data.goodbooks import BOOK_COLUMNS, year_bin
from hetrec.errors import HetrecError

DIM = 16
RATING_SHARES = np.array([0.019, 0.063, 0.228, 0.359, 0.331])  # real Goodbooks 1..5 star shares
LANGUAGES = {"eng": 0.63, "en-US": 0.2, "en-GB": 0.03, "": 0.1, "spa": 0.01, "fre": 0.01, "ger": 0.01,
             "ara": 0.006, "ind": 0.004, "jpn": 0.004, "ita": 0.003, "por": 0.003}
BOOK_HEADER = ["book_id", "goodreads_book_id", "best_book_id", "work_id", "books_count", "isbn", "isbn13", "authors",
               "original_publication_year", "original_title", "title", "language_code", "average_rating",
               "ratings_count", "work_ratings_count", "work_text_reviews_count", "ratings_1", "ratings_2",
               "ratings_3", "ratings_4", "ratings_5", "image_url", "small_image_url"]


@dataclass(frozen=True)
class SynthConfig:
    users: int = 53424  # real Goodbooks-10k scale
    books: int = 10000
    ratings: int = 6_000_000  # target total; the real file has 5,976,479
    tags: int = 34252
    tags_per_book: int = 100  # book_tags.csv rows per book (real: ~100)
    seed: int = 0
    books_csv: str | None = None  # real books.csv to use as the catalogue (first `books` rows)
    chunk: int = 2048  # users (or books) scored at once; bounds memory


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _zipf(n: int, a: float) -> np.ndarray:
    p = (np.arange(n) + 1.0) ** -a
    return p / p.sum()


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    return codes, len(uniques)


def _catalogue(cfg: SynthConfig, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame | None, np.ndarray]:
    """Books (BOOK_COLUMNS subset) + the raw real frame to write (or None) + popularity."""
    n = cfg.books
    if cfg.books_csv:
        books = schema.read_csv(cfg.books_csv, BOOK_COLUMNS, optional={"ratings_count": "float?"})
        if len(books) < n:
            raise HetrecError(f"{cfg.books_csv}: has {len(books)} books but --books {n} asked; lower --books")
        raw = pd.read_csv(cfg.books_csv, dtype=str, keep_default_na=False).iloc[:n]
        books = books.iloc[:n].reset_index(drop=True)
        rc = books["ratings_count"].to_numpy() if "ratings_count" in books else np.full(n, np.nan)
        pop = np.where(np.isnan(rc), np.nanmin(rc) if np.isfinite(rc).any() else 1.0, rc) + 1.0
        return books, raw, pop / pop.sum()
    n_auth = max(1, int(0.47 * n))
    first = rng.choice(n_auth, size=n, p=_zipf(n_auth, 0.8))
    second = rng.integers(0, n_auth, size=n)
    co = rng.random(n) < 0.15
    authors = pd.Series(first).map("Author {}".format)
    authors[co] = authors[co] + ", " + pd.Series(second[co], index=np.flatnonzero(co)).map("Author {}".format)
    year = np.where(rng.random(n) < 0.9, 2017 - np.floor(rng.exponential(14, n)), rng.integers(-800, 1900, n))
    lang = rng.choice(np.array(list(LANGUAGES), dtype=object), size=n, p=np.array(list(LANGUAGES.values())) /
                      sum(LANGUAGES.values()))
    ids = np.arange(1, n + 1)
    gid = 1 + rng.permutation(n) * 37 + rng.integers(0, 37, n)  # distinct, unrelated to book_id
    books = pd.DataFrame({"book_id": ids, "goodreads_book_id": gid, "authors": authors.to_numpy(),
                          "original_publication_year": year.astype(np.float64), "language_code": lang,
                          "title": pd.Series(ids).map("Book {}".format).to_numpy()})
    return books, None, _zipf(n, 0.9)


def book_latents(books: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Book vectors as a mix of their author, language and year vectors plus noise (step 2)."""
    n = len(books)
    authors = books["authors"].str.split(",").explode().str.strip()
    a_code, n_a = _codes(authors.to_numpy())
    a_vec = rng.normal(0, 1, (n_a, DIM))
    a_sum = np.zeros((n, DIM))
    np.add.at(a_sum, authors.index.to_numpy(), a_vec[a_code])
    a_mean = a_sum / np.maximum(np.bincount(authors.index.to_numpy(), minlength=n), 1)[:, None]
    l_code, n_l = _codes(books["language_code"].to_numpy())
    y_code, n_y = _codes(year_bin(books["original_publication_year"].to_numpy()))
    mix = (0.8 * a_mean + 0.3 * rng.normal(0, 1, (n_l, DIM))[l_code] + 0.4 * rng.normal(0, 1, (n_y, DIM))[y_code]
           + 0.55 * rng.normal(0, 1, (n, DIM)))
    return _unit(mix).astype(np.float32)


def _gumbel_topk(left: torch.Tensor, right: torch.Tensor, bias: torch.Tensor, scale: float, k: int,
                 chunk: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of ``left``: k draws without replacement from softmax(scale left.right + bias)."""
    idx, keys = [], []
    for s in range(0, left.shape[0], chunk):
        sc = torch.addmm(bias.expand(min(chunk, left.shape[0] - s), -1), left[s:s + chunk], right.T, alpha=scale)
        sc -= torch.empty_like(sc).exponential_(generator=gen).log_()  # + Gumbel noise
        v, i = torch.topk(sc, k, dim=1, sorted=True)
        idx.append(i)
        keys.append(v)
    return torch.cat(idx), torch.cat(keys)


def generate(cfg: SynthConfig) -> dict[str, pd.DataFrame | pa.Table]:
    """Build the five tables (see module docstring); nothing is written here."""
    if cfg.users < 1 or cfg.books < 2 or cfg.tags < 1 or cfg.ratings < cfg.users:
        raise HetrecError("synth needs --users >= 1, --books >= 2, --tags >= 1 and --ratings >= --users")
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    books, raw, pop = _catalogue(cfg, rng)
    n = len(books)
    B = book_latents(books, rng)

    mean = cfg.ratings / cfg.users
    hi = max(1, min(n - 1, int(round(1.8 * mean))))
    lo = min(hi, max(1, round(0.17 * mean)))
    raw_k = mean * np.exp(rng.normal(-0.125, 0.5, cfg.users))
    raw_k *= cfg.ratings / np.clip(raw_k, lo, hi).sum()  # rescale once so clipping keeps the total near target
    k = np.clip(np.round(raw_k), lo, hi).astype(np.int64)
    m = np.minimum(rng.poisson(0.15 * k), n - k)
    U = rng.normal(0, 1, (cfg.users, DIM)).astype(np.float32)
    kmax = int((k + m).max())
    idx, _ = _gumbel_topk(torch.from_numpy(U), torch.from_numpy(B), torch.from_numpy(np.log(pop).astype(np.float32)),
                          3.0, kmax, cfg.chunk, gen)
    slot = np.arange(kmax)[None, :]
    # step 6: random time order within a user among the rated slots
    when = np.where(slot < k[:, None], rng.random((cfg.users, kmax)), np.inf)
    perm = np.argsort(when, axis=1, kind="stable")
    idx = np.take_along_axis(idx.numpy(), perm, axis=1)
    rated = slot < k[:, None]
    users = np.broadcast_to(np.arange(cfg.users)[:, None], idx.shape)
    r_user, r_book = users[rated], idx[rated]
    tr_mask = (slot >= k[:, None]) & (slot < (k + m)[:, None])
    t_user, t_book = users[tr_mask], idx[tr_mask]

    zb, zu = rng.normal(0, 1, n), rng.normal(0, 1, cfg.users)
    s = (3.0 * np.einsum("ij,ij->i", U[r_user], B[r_book]) + 0.3 * zb[r_book] + 0.3 * zu[r_user]
         + rng.normal(0, 0.5, len(r_user)))
    cuts = np.quantile(s, np.cumsum(RATING_SHARES)[:-1])
    stars = (np.searchsorted(cuts, s) + 1).astype(np.int64)

    book_ids = books["book_id"].to_numpy()
    ratings = pa.table({"user_id": r_user + 1, "book_id": book_ids[r_book], "rating": stars})
    to_read = pa.table({"user_id": t_user + 1, "book_id": book_ids[t_book]})

    # tags (step 7)
    kt = min(cfg.tags_per_book, cfg.tags)
    T = _unit(rng.normal(0, 1, (cfg.tags, DIM))).astype(np.float32)
    t_idx, t_key = _gumbel_topk(torch.from_numpy(B), torch.from_numpy(T),
                                torch.from_numpy(np.log(_zipf(cfg.tags, 0.8)).astype(np.float32)),
                                10.0, kt, max(1, cfg.chunk // 2), gen)
    t_key = t_key.numpy().astype(np.float64)
    weight = np.exp(t_key - t_key[:, :1])
    per_book = np.bincount(r_book, minlength=n)
    count = 1 + np.floor(weight * (20 + 2.0 * per_book)[:, None]).astype(np.int64)
    gid = books["goodreads_book_id"].to_numpy()
    row = np.argsort(gid, kind="stable")  # real file: by goodreads id, then count descending
    book_tags = pa.table({"goodreads_book_id": np.repeat(gid[row], kt), "tag_id": t_idx.numpy()[row].ravel(),
                          "count": count[row].ravel()})
    tags = pd.DataFrame({"tag_id": np.arange(cfg.tags), "tag_name": pd.Series(np.arange(cfg.tags)).map(
        "tag-{:05d}".format).to_numpy()})
    return {"ratings": ratings, "to_read": to_read, "book_tags": book_tags, "tags": tags,
            "books": raw if raw is not None else _books_frame(books, stars, r_book, rng)}


def _books_frame(books: pd.DataFrame, stars: np.ndarray, r_book: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """A books.csv in the real 23-column layout, rating counts consistent with ratings.csv."""
    n = len(books)
    hist = np.zeros((n, 5), np.int64)
    np.add.at(hist, (r_book, stars - 1), 1)
    total = hist.sum(1)
    avg = np.round((hist * np.arange(1, 6)).sum(1) / np.maximum(total, 1), 2)
    year = books["original_publication_year"].to_numpy()
    df = pd.DataFrame({c: "" for c in BOOK_HEADER}, index=range(n))
    df["book_id"], df["goodreads_book_id"] = books["book_id"].to_numpy(), books["goodreads_book_id"].to_numpy()
    df["best_book_id"], df["work_id"] = df["goodreads_book_id"], 1 + rng.permutation(n) * 11
    df["books_count"] = 1 + rng.poisson(20, n)
    df["authors"], df["title"], df["original_title"] = books["authors"], books["title"], books["title"]
    df["original_publication_year"] = pd.Series(year).map("{:.1f}".format).to_numpy()
    df["language_code"], df["average_rating"] = books["language_code"], avg
    df["ratings_count"] = df["work_ratings_count"] = total
    df["work_text_reviews_count"] = total // 20
    for j in range(5):
        df[f"ratings_{j + 1}"] = hist[:, j]
    return df


def _write_ints(table: pa.Table, path: Path) -> None:
    with open(path, "wb") as f:
        f.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False, quoting_style="none"))


def write(tables: dict, directory: str | os.PathLike) -> dict[str, int]:
    """Write the five CSVs into ``directory``; returns row counts."""
    directory = Path(directory)
    for name in ("ratings", "to_read", "book_tags"):
        _write_ints(tables[name], directory / f"{name}.csv")
    for name in ("books", "tags"):
        buf = io.StringIO()
        tables[name].to_csv(buf, index=False, lineterminator="\n")
        (directory / f"{name}.csv").write_text(buf.getvalue(), encoding="utf-8")
    return {name: len(t) if isinstance(t, pd.DataFrame) else t.num_rows for name, t in tables.items()}
