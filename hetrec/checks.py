"""Range checks of numeric settings, shared by every stage so the CLI and pipeline files get the same one line.

Why not only ``click.FloatRange``: click parses ``nan`` and ``inf`` as floats and every comparison with NaN is
False, so ``--lr nan`` passes ``lr <= 0`` checks; and pipeline files never go through click. Each stage's
check calls these on its config dataclass.
"""
from __future__ import annotations

import math
from numbers import Integral, Real

from hetrec.errors import HetrecError


def flag(name: str) -> str:
    """``batch_size`` -> ``--batch-size`` (the CLI spelling; pipeline keys use the field name)."""
    return "--" + name.replace("_", "-")


def number(name: str, value, *, min: float | None = None, max: float | None = None, min_open: bool = False,
           integer: bool = False, optional: bool = False) -> None:
    """``value`` is a finite number (an integer when ``integer``) in ``[min, max]`` (``(min, max]`` when
    ``min_open``); ``None`` passes when ``optional``. Raises one line naming the option."""
    if value is None and optional:
        return
    kind = "an integer" if integer else "a finite number"
    ok_type = isinstance(value, Integral) if integer else isinstance(value, Real)
    if isinstance(value, bool) or not ok_type or not math.isfinite(value):
        raise HetrecError(f"{flag(name)} {value!r}: must be {kind}")
    if (min is not None and (value <= min if min_open else value < min)) or (max is not None and value > max):
        lo = "" if min is None else f"{'>' if min_open else '>='} {min:g}"
        hi = "" if max is None else f"<= {max:g}"
        raise HetrecError(f"{flag(name)} {value:g}: must be {' and '.join(x for x in (lo, hi) if x)}")


def numbers(cfg, rules: dict[str, dict]) -> None:
    """Apply :func:`number` to each ``field: rule`` of a config object."""
    for name, rule in rules.items():
        number(name, getattr(cfg, name), **rule)


POSITIVE_INT = {"integer": True, "min": 1}
NONNEG_INT = {"integer": True, "min": 0}
SEED = {"integer": True, "min": 0, "max": 2**32 - 1}  # numpy seeds are 32-bit unsigned
