"""IV mean reversion: the constant-maturity IV, the target on hand-made series, features that see
only the past, model vs z-score rule through purged walk-forward CV, and the registry wiring."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.ml.models import iv_reversion as ivr
from quantsentinel.ml.registry.contracts import ValidationContract
from quantsentinel.ml.registry.metrics import roc_auc
from quantsentinel.ml.validation.lift import lift_metrics, precision_at_rate, roc_points

TRAIN = (date(2024, 3, 1), date(2024, 10, 31))
HOLDOUT = (date(2024, 11, 1), date(2024, 12, 31))


@pytest.fixture(scope="module")
def sim() -> MarketSimulator:
    return MarketSimulator()


@pytest.fixture(scope="module")
def frame(sim) -> pd.DataFrame:
    return ivr.iv_reversion_dataset(sim, "NIFTY", *TRAIN)


@pytest.fixture(scope="module")
def trained(frame):
    return ivr.train_iv_reversion(frame, seed=7)


# ---------------------------------------------------------------- constant maturity
def test_constant_maturity_is_linear_in_total_variance():
    T, iv = np.array([10, 20]) / 365, np.array([0.20, 0.16])
    t = 15 / 365
    w = 0.5 * (0.20**2 * T[0] + 0.16**2 * T[1])
    assert ivr.constant_maturity_iv(T, iv, t) == pytest.approx(np.sqrt(w / t))
    # Beyond the last pillar: the last two pillars' forward variance, held flat.
    fwd = (0.16**2 * T[1] - 0.20**2 * T[0]) / (T[1] - T[0])
    t30 = 30 / 365
    expected = np.sqrt((0.16**2 * T[1] + fwd * (t30 - T[1])) / t30)
    assert ivr.constant_maturity_iv(T, iv, t30) == pytest.approx(expected)
    # A flat term structure stays flat everywhere; a lone pillar is flat vol.
    assert ivr.constant_maturity_iv(T, np.array([0.15, 0.15]), t30) == pytest.approx(0.15)
    assert ivr.constant_maturity_iv(T[:1], iv[:1], t30) == pytest.approx(0.20)


def test_constant_maturity_floors_negative_forward_variance_and_skips_bad_pillars():
    T = np.array([10, 20]) / 365
    # Total variance falling with T (calendar arbitrage): no negative forward variance added.
    iv = np.array([0.40, 0.20])
    t30 = 30 / 365
    assert ivr.constant_maturity_iv(T, iv, t30) == pytest.approx(np.sqrt(0.2**2 * T[1] / t30))
    assert np.isnan(ivr.constant_maturity_iv(T, np.array([np.nan, np.nan]), t30))
    assert ivr.constant_maturity_iv(T, np.array([np.nan, 0.2]), t30) == pytest.approx(0.2)


# ---------------------------------------------------------------- target
def _first(iv, forecast, h=2, min_move=ivr.MIN_MOVE) -> float:
    s = pd.Series(iv, dtype=float)
    f = pd.Series(forecast, index=s.index, dtype=float)
    return float(ivr.reversion_target(s, f, h, min_move).iloc[0])


def test_target_on_hand_made_series():
    # Dyadic values are exact in binary, so "exactly half" is exactly half.
    assert _first([0.25, 0.1875, 0.3], 0.125) == 1.0  # covers exactly half the 0.125 gap
    assert _first([0.25, 0.21875, 0.2], 0.125) == 0.0  # toward it, but less than half
    assert _first([0.25, 0.3, 0.1], 0.125, h=2) == 1.0  # any close within the horizon counts
    assert _first([0.25, 0.3, 0.1], 0.125, h=1) == 0.0  # ... but not one after it
    assert _first([0.125, 0.1875, 0.1], 0.25) == 1.0  # reversion upward
    assert _first([0.25, 0.5, 0.5], 0.25) == 0.0  # no gap: no direction to revert in
    # Half of a 0.25-point gap is noise: the move must also reach MIN_MOVE.
    assert _first([0.25, 0.246, 0.25], 0.2475, min_move=0.005) == 0.0
    assert _first([0.25, 0.246, 0.25], 0.2475, min_move=0.001) == 1.0


def test_target_is_missing_without_a_full_horizon():
    iv = pd.Series([0.2, 0.19, np.nan, 0.18, 0.17, 0.16, 0.15])
    target = ivr.reversion_target(iv, pd.Series(0.1, index=iv.index), 2)
    # Rows 0-1 see the NaN at row 2, row 2 is NaN itself, the last two have no future.
    assert target.isna().tolist() == [True, True, True, False, False, True, True]


# ---------------------------------------------------------------- features see only the past
class _AlteredFuture:
    """The simulator, with every market output after `cutoff` changed."""

    def __init__(self, sim: MarketSimulator, cutoff: date) -> None:
        self._sim, self.cutoff, self.config = sim, cutoff, sim.config

    def snapshot_times(self, day):
        return self._sim.snapshot_times(day)

    def chain_snapshot(self, ts, underlying):
        chain = self._sim.chain_snapshot(ts, underlying)
        if ts.tz_convert("Asia/Kolkata").date() > self.cutoff:
            chain[["bid", "ask", "last"]] *= 1.3
        return chain

    def bars(self, day, underlying):
        bars = self._sim.bars(day, underlying)
        if day > self.cutoff:
            wiggle = 1 + 0.003 * np.sin(np.arange(len(bars)))
            for col in ("open", "high", "low", "close"):
                bars[col] = bars[col] * wiggle
        return bars

    def vix_bars(self, day):
        vix = self._sim.vix_bars(day)
        if day > self.cutoff:
            vix["close"] += 5.0
        return vix


def test_features_do_not_change_when_the_future_does(sim):
    start, end, cutoff = date(2024, 4, 15), date(2024, 6, 21), date(2024, 5, 24)
    base = ivr.iv_reversion_dataset(sim, "NIFTY", start, end)
    altered = ivr.iv_reversion_dataset(_AlteredFuture(sim, cutoff), "NIFTY", start, end)
    past = base.index[base.index <= cutoff]
    cols = [*ivr.FEATURES, "iv_forecast"]
    pd.testing.assert_frame_equal(base.loc[past, cols], altered.loc[past, cols])
    future = base.index[base.index > cutoff]
    assert (base.loc[future, "iv_atm"] - altered.loc[future, "iv_atm"]).abs().min() > 0.01
    # The target does look ahead, but only `horizon_days` trading days: older rows keep theirs.
    changed = [d for d in past if base.at[d, "target"] != altered.at[d, "target"]]
    assert all(d in past[-ivr.DEFAULT_HORIZON :] for d in changed)
    assert base.loc[past[: -ivr.DEFAULT_HORIZON], "target"].equals(
        altered.loc[past[: -ivr.DEFAULT_HORIZON], "target"]
    )


# ---------------------------------------------------------------- dataset
def test_dataset_shape_and_definitions(frame):
    assert list(frame.columns) == [*ivr.FEATURES, "iv_forecast", "target"]
    assert frame.index.is_monotonic_increasing and frame.index[0] >= TRAIN[0]
    assert frame.attrs["horizon_days"] == ivr.DEFAULT_HORIZON
    assert set(frame["target"].unique()) == {0.0, 1.0}
    assert frame[ivr.FEATURES].notna().all().all()
    # The 30-day chain IV is the simulator's own 30-day IV (India VIX) within a vol point.
    assert (frame["iv_atm"] - frame["vix"]).abs().median() < 0.01
    np.testing.assert_allclose(frame["iv_gap"], frame["iv_forecast"] - frame["iv_atm"])


def test_too_short_or_bad_spans_name_the_cause(sim):
    with pytest.raises(ValueError, match=r"span too short.*horizon_days=5"):
        ivr.iv_reversion_dataset(sim, "NIFTY", date(2024, 6, 3), date(2024, 6, 7))
    with pytest.raises(ValueError, match=r"span too short.*prior trading days"):
        ivr.iv_reversion_dataset(sim, "NIFTY", date(2024, 1, 1), date(2024, 1, 26))
    with pytest.raises(ValueError, match="horizon_days must be >= 1"):
        ivr.iv_reversion_features(sim, "NIFTY", date(2024, 6, 3), date(2024, 6, 28), 0)
    with pytest.raises(ValueError, match="unknown underlying"):
        ivr.iv_reversion_features(sim, "NOPE", date(2024, 6, 3), date(2024, 6, 28))


def test_training_refuses_too_few_rows_or_missing_columns(frame):
    with pytest.raises(ValueError, match="too few rows to train"):
        ivr.train_iv_reversion(frame.iloc[:30])
    with pytest.raises(ValueError, match=r"lacks columns \['iv_z'\]"):
        ivr.train_iv_reversion(frame.drop(columns="iv_z"))


# ---------------------------------------------------------------- rule, model, lift
def test_zscore_rule_fires_above_the_threshold_and_ranks_by_abs_z():
    z = pd.DataFrame({"iv_z": [-2.0, -0.5, 0.0, 0.99, 1.01, 3.0]})
    score = ivr.zscore_rule(z)
    assert (score > 0.5).tolist() == [True, False, False, False, True, True]
    assert np.array_equal(np.argsort(score), np.argsort(np.abs(z["iv_z"].to_numpy())))


def test_lift_helpers():
    y = np.array([1, 0, 1, 0])
    assert precision_at_rate(y, [0.9, 0.8, 0.7, 0.1], 0.5) == 0.5
    assert np.isnan(precision_at_rate(y, [0.9, 0.8, 0.7, 0.1], 0.0))
    fpr, tpr = roc_points(y, [0.9, 0.8, 0.7, 0.1])
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    m = lift_metrics(y, [0.9, 0.2, 0.8, 0.1], np.array([0.6, 0.6, 0.4, 0.4]))
    assert m["auc"] == 1.0 and m["rule_auc"] == 0.5 and m["auc_lift"] == 0.5
    assert m["rule_positive_rate"] == 0.5 and m["rule_precision"] == 0.5
    assert m["precision_at_rule_rate"] == 1.0 and m["precision_lift"] == 0.5


def test_training_reports_purged_cv_lift(trained, frame):
    v = trained.validation_metrics
    assert v["n_folds"] == ivr.N_SPLITS
    for key in ("auc", "brier", "rule_auc", "auc_lift", "precision_at_rule_rate", "rule_brier"):
        assert np.isfinite(v[key]), key
    assert v["auc_lift"] == pytest.approx(v["auc"] - v["rule_auc"])
    folds = trained.tables["cv_folds"]
    assert len(folds) == ivr.N_SPLITS and {"auc", "rule_auc", "auc_lift"} <= set(folds.columns)
    # Walk-forward: each fold trained on rows strictly before its test block.
    assert folds["n_train"].is_monotonic_increasing
    assert (folds["test_start"] > frame.index[0]).all()
    assert len(trained.figures["cv_lift"].axes) == 2
    assert trained.feature_set == ivr.FEATURES
    assert trained.hyperparameters[ivr.TARGET_KEY] == ivr.DEFAULT_HORIZON
    again = ivr.train_iv_reversion(frame, seed=7)
    assert again.validation_metrics == pytest.approx(v, nan_ok=True)


def test_evaluation_scores_model_and_rule_and_feeds_the_contract(sim, trained):
    holdout = ivr.iv_reversion_dataset(sim, "NIFTY", *HOLDOUT)
    ev = ivr.evaluate_iv_reversion(trained.model, holdout)
    y = holdout["target"].to_numpy(int)
    for key in ("auc", "brier", "accuracy", "rule_auc", "auc_lift"):
        assert key in ev.metrics
    abs_z = holdout["iv_z"].abs()
    assert ev.metrics["rule_auc"] == pytest.approx(roc_auc(y, abs_z / abs_z.max()))
    assert ev.metrics["auc_lift"] == pytest.approx(ev.metrics["auc"] - ev.metrics["rule_auc"])
    assert (
        ev.payload.y_prob.shape == y.shape
        and ((ev.payload.y_prob >= 0) & (ev.payload.y_prob <= 1)).all()
    )
    verdict = ValidationContract.from_json(ivr.CONTRACT).check_candidate(
        ev.metrics, None, ev.payload
    )
    names = {c["name"] for c in verdict.checks}
    assert {"floor:auc", "floor:auc_lift", "validator:calibration"} <= names


def test_model_spec_wires_type_contract_and_live_scoring(trained):
    spec = ivr.model_spec()
    assert spec.model_type.type_id == ivr.TYPE_ID and spec.model_type.framework == "lightgbm"
    ValidationContract.from_json(spec.model_type.contract)
    live = spec.score_live(trained.model, date(2024, 11, 4), date(2024, 11, 8))
    assert list(live) == [f"NIFTY-2024-11-0{d}" for d in (4, 5, 6, 7, 8)]
    assert all(0.0 <= p <= 1.0 for p in live.values())
