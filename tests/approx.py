"""Equality of answers computed two ways, with floats compared to a relative tolerance.

Two paths to the same figure (per-day rows vs all-time totals, a window cut from history vs read alone) sum
floats in different orders, and PostgreSQL's plan decides that order: 0.64 and 0.6400000000000001 are the
same answer. `approx_tree(expected)` keeps every other value exact (ints, strings, ordering, keys), so a real
difference still fails, and pytest shows the whole structure when it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

# Far above float rounding (1e-16 per step) and far below anything an answer shows (4 decimals).
REL = 1e-9


def approx_tree(expected: Any, *, rel: float = REL) -> Any:
    """`expected` with each float replaced by `pytest.approx(float)`; compare with `actual == approx_tree(...)`."""
    if isinstance(expected, bool) or expected is None:
        return expected
    if isinstance(expected, float):
        return pytest.approx(expected, rel=rel, abs=rel)
    if isinstance(expected, Mapping):
        return {key: approx_tree(value, rel=rel) for key, value in expected.items()}
    if isinstance(expected, tuple):
        return tuple(approx_tree(value, rel=rel) for value in expected)
    if isinstance(expected, list):
        return [approx_tree(value, rel=rel) for value in expected]
    return expected
