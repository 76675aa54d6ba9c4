"""Makes tests/gpu_helpers.py importable from every test folder (they have no __init__.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
