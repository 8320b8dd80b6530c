"""Responses are coded by ``_unique_text``, which must give exactly ``np.unique``'s labels and
codes (sorted by code point) without sorting every row's text."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.satisfaction.inputs import _unique_text

POOL = [
    "Hà Nội",
    "Huế",
    "U1",
    "U10",
    "U2",
    "Đà Nẵng",
    "a",
    "ab",
    "Z",
    "Ủy ban nhân dân xã Tân Lập 7",
]


@pytest.mark.parametrize("seed", range(20))
def test_same_as_np_unique(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = POOL[: rng.integers(1, len(POOL) + 1)]
    text = np.array([pool[i] for i in rng.integers(0, len(pool), rng.integers(1, 300))])
    labels, codes = _unique_text(text)
    expected_labels, expected_codes = np.unique(text, return_inverse=True)
    assert labels.tolist() == expected_labels.tolist() and labels.dtype == expected_labels.dtype
    assert codes.tolist() == expected_codes.reshape(-1).tolist()
