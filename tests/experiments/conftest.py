"""Makes the repository importable (experiments.saferl, safrl) when pytest is run by hand
without PYTHONPATH, as CTest sets it."""
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
