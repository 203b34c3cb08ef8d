"""The tolerant comparison the equality tests use: float noise passes, every real difference still fails."""

from __future__ import annotations

from typing import Any

from tests.approx import approx_tree

ANSWER: dict[str, Any] = {"plays": 40, "share": 0.64, "top": [{"id": "a", "avg": 0.1 + 0.2}], "label": "all_time"}


def test_summation_order_noise_is_equal() -> None:
    noisy = {**ANSWER, "share": 0.6400000000000001, "top": [{"id": "a", "avg": 0.3}]}
    assert noisy != ANSWER  # what the exact comparison saw
    assert noisy == approx_tree(ANSWER)
    pair = (1, 2.0)
    assert pair == approx_tree((1, 2.0000000000000004))


def test_real_differences_still_fail() -> None:
    changed: list[Any] = [
        {**ANSWER, "share": 0.6401},
        {**ANSWER, "plays": 41},
        {**ANSWER, "label": "last_month"},
        {**ANSWER, "share": None},
        {**ANSWER, "top": []},
        {**ANSWER, "top": [{"id": "b", "avg": 0.3}]},
        {**ANSWER, "extra": 1},
    ]
    for actual in changed:
        assert actual != approx_tree(ANSWER), actual
    swapped = (2.0, 1)
    assert swapped != approx_tree((1, 2.0))
