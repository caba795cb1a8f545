"""Purged, embargoed K-fold cross-validation for labels that span several rows.

Why not plain K-fold: a row's label here looks `label_horizon` rows ahead (e.g. "does IV revert
within the next 5 trading days"), so row i carries information from the interval [i, i + h].
A shuffled or even a contiguous K-fold then trains on rows whose labels were decided by the very
prices the test rows are scored on, and the CV score measures memory, not skill. López de Prado
(2018, *Advances in Financial Machine Learning*, ch. 7) fixes this with two cuts:

- **purging**: a training row is dropped when its information interval [j, j + h] overlaps the
  test block's span [a, b - 1 + h] (the block's first row up to its last row's label end). Rows
  just before the block (j >= a - h) and just after it (j <= b - 1 + h) go;
- **embargo**: `embargo` more rows after the purged region are dropped too, because serial
  correlation in the features leaks the test period into the rows that immediately follow it
  even when the labels no longer overlap. Training after the block starts at row b + h + embargo.

Rows are positions, one per time step in the unit of the horizon (here: one per trading day),
and must be in time order; the split never shuffles.

Walk-forward mode (the default) trains only on rows whose labels end before the test block
starts, so no fold ever learns from the future. That is the honest number to report as "lift
over a rule": a purged K-fold still trains on later regimes to predict earlier ones. In that
mode the rows are cut into `n_splits + 1` contiguous blocks and blocks 1..n_splits are tested
(the first block is only ever training data), so both modes yield exactly `n_splits` folds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np


class PurgedKFold:
    """Time-ordered K-fold with purging and embargo (López de Prado 2018, ch. 7).

    Args:
        n_splits: number of test folds (>= 2).
        label_horizon: h, how many rows after row i its label looks at (>= 0); row i's
            information interval is [i, i + h].
        embargo: rows dropped after each test block's purged region (>= 0); unused in
            walk-forward mode, where nothing after the test block is trained on.
        walk_forward: train only on rows whose labels end before the test block (default).
    """

    def __init__(
        self,
        n_splits: int = 5,
        label_horizon: int = 0,
        embargo: int = 0,
        walk_forward: bool = True,
    ) -> None:
        for name, value, low in (
            ("n_splits", n_splits, 2),
            ("label_horizon", label_horizon, 0),
            ("embargo", embargo, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        self.n_splits = int(n_splits)
        self.label_horizon = int(label_horizon)
        self.embargo = int(embargo)
        self.walk_forward = bool(walk_forward)

    def __repr__(self) -> str:
        return (
            f"PurgedKFold(n_splits={self.n_splits}, label_horizon={self.label_horizon}, "
            f"embargo={self.embargo}, walk_forward={self.walk_forward})"
        )

    def get_n_splits(self) -> int:
        """Number of folds `split` yields (scikit-learn's name for it)."""
        return self.n_splits

    def split(self, index: Sized) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (train_positions, test_positions) per fold, test blocks in time order.

        `index` is the rows' time index (a DatetimeIndex, dates, or any sized sequence); only
        its length and order are used. Raises ValueError when it is out of time order or too
        short for every fold to keep at least one training row after purging.
        """
        n = len(index)
        _check_time_order(index)
        n_blocks = self.n_splits + 1 if self.walk_forward else self.n_splits
        if n < n_blocks:
            raise ValueError(
                f"too few samples: {n} rows cannot form {n_blocks} contiguous blocks "
                f"(n_splits={self.n_splits}, walk_forward={self.walk_forward})"
            )
        blocks = np.array_split(np.arange(n), n_blocks)
        folds = []
        for block in blocks[1:] if self.walk_forward else blocks:
            a, b = int(block[0]), int(block[-1]) + 1
            train = self._train_positions(n, a, b)
            if train.size == 0:
                raise ValueError(
                    f"too few samples: test block [{a}, {b}) of {n} rows leaves no training "
                    f"rows after purging label_horizon={self.label_horizon} and "
                    f"embargo={self.embargo} (n_splits={self.n_splits}, "
                    f"walk_forward={self.walk_forward})"
                )
            folds.append((train, block.copy()))
        # Validate every fold before yielding any, so a caller never half-runs a bad CV.
        yield from folds

    def _train_positions(self, n: int, a: int, b: int) -> np.ndarray:
        """Rows whose interval [j, j + h] misses [a, b - 1 + h], minus the embargo after it."""
        h = self.label_horizon
        before = np.arange(0, max(a - h, 0))
        if self.walk_forward:
            return before
        after = np.arange(min(b + h + self.embargo, n), n)
        return np.concatenate((before, after))


def _check_time_order(index: Sized) -> None:
    """Refuse an index that is not increasing: contiguous blocks would not be time blocks."""
    try:
        values = np.asarray(index)
        if values.ndim != 1 or values.size < 2:
            return
        ordered = bool(np.all(values[1:] > values[:-1]))
    except TypeError:  # values without an order (mixed objects): nothing to check
        return
    if not ordered:
        raise ValueError("index must be strictly increasing in time (sort the rows first)")
