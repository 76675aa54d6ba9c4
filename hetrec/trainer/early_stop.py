"""Early stopping on a validation metric, shared by every training loop."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EarlyStopping:
    """Track the best validation value; stop after ``patience`` evaluations without improvement.

    ``step(value, epoch)`` returns True when ``value`` is a new best (the caller then keeps
    a copy of the model); ``should_stop`` turns True once patience runs out. The state is
    plain data (``state_dict``/``load_state_dict``) so a resumed run continues identically.
    """

    patience: int = 10
    mode: str = "max"
    best: float | None = None
    best_epoch: int = -1
    bad_steps: int = 0

    def step(self, value: float, epoch: int) -> bool:
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if better:
            self.best, self.best_epoch, self.bad_steps = float(value), epoch, 0
        else:
            self.bad_steps += 1
        return better

    @property
    def should_stop(self) -> bool:
        return self.bad_steps >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_steps": self.bad_steps}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.bad_steps = state["best"], state["best_epoch"], state["bad_steps"]
