"""Make ``contract.py`` importable from the backend test modules (tests/ has no packages)."""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
