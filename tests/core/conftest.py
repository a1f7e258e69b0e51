"""Make the repository root importable first, so `projections` is always the real package.

These test folders have no `__init__.py` (a `tests/projections` package would shadow the real
`projections`); pytest puts `tests/` on `sys.path`, where `tests/projections` could otherwise be
taken for a namespace package of that name.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# The history builder and the history generators of tests/projections serve these tests too.
PROJECTION_TESTS = str(Path(__file__).resolve().parents[1] / "projections")
if PROJECTION_TESTS not in sys.path:
    sys.path.append(PROJECTION_TESTS)
