"""Make the repository root importable first, so `projections` is always the real package.

These test folders have no `__init__.py` (a `tests/core` package would shadow nothing today, but
`tests/projections` would shadow the real `projections`); pytest puts `tests/` on `sys.path`.
`tests/projections` goes on the path too: the worklist tests reuse its history builder and the
generators of its property tests.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
PROJECTION_TESTS = str(Path(__file__).resolve().parents[1] / "projections")
if PROJECTION_TESTS not in sys.path:
    sys.path.append(PROJECTION_TESTS)
