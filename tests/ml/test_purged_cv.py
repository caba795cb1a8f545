"""PurgedKFold: no training label overlaps a test block, the embargo is applied, walk-forward
never trains on or after the test block, and bad arguments are refused by name."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantsentinel.ml.validation import PurgedKFold


def _folds(n: int, **kw) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(PurgedKFold(**kw).split(pd.RangeIndex(n)))


def test_hand_computed_purge_and_embargo():
    # 10 rows, 2 blocks [0..4] and [5..9]; labels look 1 row ahead, embargo 1 row.
    (tr0, te0), (tr1, te1) = _folds(10, n_splits=2, label_horizon=1, embargo=1, walk_forward=False)
    assert te0.tolist() == [0, 1, 2, 3, 4]
    # Test span is [0, 5] (row 4's label reaches row 5): rows 5 purged, row 6 embargoed.
    assert tr0.tolist() == [7, 8, 9]
    assert te1.tolist() == [5, 6, 7, 8, 9]
    # Row 4's label [4, 5] touches the test block: purged. Nothing after the block is left.
    assert tr1.tolist() == [0, 1, 2, 3]


def test_walk_forward_hand_computed():
    folds = _folds(12, n_splits=3, label_horizon=2, embargo=5, walk_forward=True)
    # 4 blocks of 3; blocks 1..3 are tested, each trained on rows whose labels end before it.
    assert [te.tolist() for _, te in folds] == [[3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert [tr.tolist() for tr, _ in folds] == [[0], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6]]


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(60, 300),  # every block longer than h: each fold keeps training rows
    k=st.integers(2, 6),
    h=st.integers(0, 6),
    e=st.integers(0, 6),
    walk_forward=st.booleans(),
)
def test_no_training_label_overlaps_the_test_block(n, k, h, e, walk_forward):
    folds = _folds(n, n_splits=k, label_horizon=h, embargo=e, walk_forward=walk_forward)
    assert len(folds) == k
    tested = np.concatenate([te for _, te in folds])
    assert np.array_equal(tested, np.arange(n - len(tested), n))  # contiguous, in time order
    for train, test in folds:
        a, b = test[0], test[-1] + 1
        assert np.array_equal(test, np.arange(a, b))
        assert np.intersect1d(train, test).size == 0
        # Information interval [j, j + h] of every training row misses the test span.
        span_end = b - 1 + h
        assert not np.any((train <= span_end) & (train + h >= a))
        after = train[train >= b]
        if walk_forward:
            assert after.size == 0 and (train.size == 0 or train.max() + h < a)
        else:
            # Embargo: the e rows after the purged region are not trained on either.
            assert not np.any(after < b + h + e)
            if b + h + e < n:
                assert after.min() == b + h + e


def test_embargo_moves_the_first_training_row_after_the_block():
    for e in (0, 3, 7):
        (train, test), _ = _folds(40, n_splits=2, label_horizon=2, embargo=e, walk_forward=False)
        assert test[-1] == 19
        assert train.min() == 20 + 2 + e


def test_walk_forward_is_the_default_and_never_trains_after_the_test():
    cv = PurgedKFold(4, label_horizon=5)
    assert cv.walk_forward and cv.get_n_splits() == 4
    days = pd.Index([date(2024, 1, 1) + timedelta(days=i) for i in range(100)])
    for train, test in cv.split(days):
        assert days[train].max() + timedelta(days=5) < days[test].min()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_splits": 1}, "n_splits"),
        ({"n_splits": 2.5}, "n_splits"),
        ({"n_splits": True}, "n_splits"),
        ({"n_splits": 3, "label_horizon": -1}, "label_horizon"),
        ({"n_splits": 3, "embargo": -2}, "embargo"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PurgedKFold(**kwargs)


def test_too_few_samples_is_refused_before_any_fold():
    with pytest.raises(ValueError, match="too few samples"):
        list(PurgedKFold(5).split(range(4)))  # walk-forward needs 6 blocks
    # Enough rows for the blocks, but the first block is all purge: no training row left.
    with pytest.raises(ValueError, match=r"too few samples.*label_horizon=5"):
        list(PurgedKFold(3, label_horizon=5).split(range(20)))
    # K-fold: every test block needs training rows on one side after purge and embargo.
    with pytest.raises(ValueError, match=r"embargo=4"):
        next(PurgedKFold(2, label_horizon=4, embargo=4, walk_forward=False).split(range(12)))


def test_unsorted_index_is_refused():
    with pytest.raises(ValueError, match="increasing"):
        list(PurgedKFold(2, walk_forward=False).split([3, 1, 2, 4, 5]))
