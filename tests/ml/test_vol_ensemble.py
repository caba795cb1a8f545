"""Losses, naive baselines and the QLIKE model-averaging ensemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantsentinel.ml.vol.ensemble import ensemble_forecasts
from quantsentinel.ml.vol.losses import (
    evaluation_table,
    mse,
    naive_forecasts,
    oos_r2,
    qlike,
    qlike_terms,
    realized_targets,
)

HORIZONS = (1, 5, 22)


@pytest.fixture(scope="module")
def world() -> tuple[pd.Series, pd.Series]:
    """(latent variance, realized variance): persistent log-variance, RV = variance x noise.

    The RV noise is a mean-one average of 78 squared normals (a 5-minute RV), so RV is an
    unbiased, noisy proxy for the latent variance, as in Patton (2011).
    """
    rng = np.random.default_rng(3)
    n = 800
    log_s2 = np.empty(n)
    log_s2[0] = np.log(1e-4)
    for t in range(1, n):
        log_s2[t] = np.log(1e-4) + 0.97 * (log_s2[t - 1] - np.log(1e-4)) + 0.2 * rng.normal()
    s2 = np.exp(log_s2)
    rv = s2 * (rng.normal(size=(n, 78)) ** 2).mean(axis=1)
    idx = pd.bdate_range("2020-01-01", periods=n)
    return pd.Series(s2, index=idx), pd.Series(rv, index=idx)


def oracle(s2: pd.Series, horizons=HORIZONS) -> pd.DataFrame:
    """The conditional-mean forecast a perfect model would give: the latent variance ahead."""
    return realized_targets(s2, horizons)


# --- losses -------------------------------------------------------------------------------------


def test_qlike_prefers_true_variance_over_biased(world):
    s2, rv = world
    true_loss = qlike(rv, s2)
    assert true_loss < qlike(rv, 1.5 * s2)
    assert true_loss < qlike(rv, 0.6 * s2)
    # Under-prediction costs more than over-prediction by the same factor (QLIKE asymmetry).
    assert qlike(rv, s2 / 1.5) > qlike(rv, s2 * 1.5)
    assert mse(rv, s2) < mse(rv, 1.5 * s2)


def test_qlike_basic_properties():
    x = pd.Series([1e-4, 2e-4, 4e-4])
    assert qlike(x, x) == pytest.approx(0.0)
    # RV <= 0 cannot enter log(RV/F); it is dropped, not turned into inf.
    terms = qlike_terms(np.array([0.0, 1e-4]), np.array([1e-4, 1e-4]))
    assert np.isnan(terms[0]) and terms[1] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        qlike(x, pd.Series([1e-4, 0.0, 1e-4]))


def test_oos_r2_reference_points(world):
    s2, rv = world
    bench = pd.Series(rv.mean(), index=rv.index)
    assert oos_r2(rv, rv, bench) == pytest.approx(1.0)
    assert oos_r2(rv, bench, bench) == pytest.approx(0.0)
    assert oos_r2(rv, s2, bench) > 0


def test_targets_and_naive_follow_the_timing_convention(world):
    _, rv = world
    targets = realized_targets(rv, HORIZONS)
    t = 100
    assert targets[5].iloc[t] == pytest.approx(rv.iloc[t + 1 : t + 6].mean())
    assert targets[22].iloc[-22:].isna().all()

    naive = naive_forecasts(rv, HORIZONS)
    assert naive["random_walk"][22].iloc[t] == rv.iloc[t]
    assert naive["rolling_mean"][1].iloc[t] == pytest.approx(rv.iloc[t - 21 : t + 1].mean())
    # A change on day T moves no forecast made before T.
    bumped = rv.copy()
    bumped.iloc[t] *= 10
    for name, frame in naive_forecasts(bumped, HORIZONS).items():
        pd.testing.assert_frame_equal(frame.iloc[:t], naive[name].iloc[:t])


def test_evaluation_table_ranks_oracle_first(world):
    s2, rv = world
    models = {**naive_forecasts(rv, HORIZONS), "oracle": oracle(s2)}
    table = evaluation_table(models, rv).set_index(["horizon", "model"])
    for h in HORIZONS:
        assert table.loc[(h, "oracle"), "qlike"] < table.loc[(h, "random_walk"), "qlike"]
        assert table.loc[(h, "oracle"), "oos_r2"] > 0


# --- ensemble -----------------------------------------------------------------------------------


def test_weights_favor_the_better_member(world):
    s2, rv = world
    good = oracle(s2)
    members = {"good": good, "biased": 1.8 * good, "flat": pd.DataFrame(1e-4, rv.index, HORIZONS)}
    forecast, weights = ensemble_forecasts(members, rv, window=60)

    assert list(forecast.columns) == list(HORIZONS)
    settled = weights.iloc[150:-30]
    sums = settled.T.groupby(level="horizon").sum().T
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    assert (settled.to_numpy() >= 0.05 - 1e-12).all()  # the floor keeps every member alive
    for h in HORIZONS:
        assert settled[(h, "good")].mean() > 0.6
        assert (settled[(h, "good")] > settled[(h, "biased")]).mean() > 0.9
    # The combination is a convex mix of the members.
    lo = pd.concat([m[1] for m in members.values()], axis=1).min(axis=1)
    hi = pd.concat([m[1] for m in members.values()], axis=1).max(axis=1)
    ok = forecast[1].notna()
    assert (
        (forecast[1][ok] >= lo[ok] * (1 - 1e-12)) & (forecast[1][ok] <= hi[ok] * (1 + 1e-12))
    ).all()
    # The ensemble beats the worst member out of sample.
    target = realized_targets(rv, (1,))[1].iloc[100:]
    assert qlike(target, forecast[1].iloc[100:]) < qlike(target, members["biased"][1].iloc[100:])


def test_weights_start_at_the_prior(world):
    _, rv = world
    base = pd.DataFrame(1e-4, rv.index, HORIZONS)
    members = {"a": base, "b": 2 * base}
    _, weights = ensemble_forecasts(members, rv, prior={"a": 3.0, "b": 1.0}, floor=0.0)
    for h in HORIZONS:
        # No target is complete before day h, so the first h rows carry the prior only.
        first = weights[h].iloc[:h]
        np.testing.assert_allclose(first["a"], 0.75)
        np.testing.assert_allclose(first["b"], 0.25)


def test_weights_never_use_unobserved_losses(world):
    s2, rv = world
    good = oracle(s2)
    members = {"good": good, "rw": naive_forecasts(rv, HORIZONS)["random_walk"]}
    _, base = ensemble_forecasts(members, rv)
    day = 400
    shocked = rv.copy()
    shocked.iloc[day] *= 50.0
    _, after = ensemble_forecasts(
        {"good": good, "rw": naive_forecasts(shocked, HORIZONS)["random_walk"]}, shocked
    )
    # RV of day T is first seen after the close of T: weights up to T-1 must not move.
    pd.testing.assert_frame_equal(base.iloc[:day], after.iloc[:day])
    assert not np.allclose(base.iloc[day:].fillna(0), after.iloc[day:].fillna(0))


def test_missing_member_forecast_gets_zero_weight(world):
    s2, rv = world
    a = oracle(s2)
    b = 1.3 * a
    b.iloc[300:320] = np.nan
    forecast, weights = ensemble_forecasts({"a": a, "b": b}, rv)
    gap = weights[1].iloc[300:320]
    np.testing.assert_allclose(gap["b"], 0.0)
    np.testing.assert_allclose(gap["a"], 1.0)
    np.testing.assert_allclose(forecast[1].iloc[300:320], a[1].iloc[300:320])


def test_ensemble_rejects_bad_settings(world):
    _, rv = world
    base = pd.DataFrame(1e-4, rv.index, HORIZONS)
    with pytest.raises(ValueError):
        ensemble_forecasts({"a": base, "b": base}, rv, floor=0.5)
    with pytest.raises(ValueError):
        ensemble_forecasts({}, rv)
