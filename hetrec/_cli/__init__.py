"""One small module per CLI command; ``NAMES`` is the explicit, ordered list ``cli.py`` wires.

To add a command: write ``hetrec/_cli/<name>.py`` defining a ``click.command`` called
``command`` and add ``<name>`` to ``NAMES``.
"""
from importlib import import_module

NAMES: list[str] = ["build_graph", "synth", "finetune", "evaluate", "recommend", "run", "pretrain", "partition_graph"]

COMMANDS = [import_module(f"hetrec._cli.{name}").command for name in NAMES]
