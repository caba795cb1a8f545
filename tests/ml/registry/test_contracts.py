"""Validation contracts, validators and the shared held-out metrics, on hand-checkable numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from quantsentinel.ml.registry.contracts import (
    VALIDATORS,
    EvaluationPayload,
    MetricRule,
    ValidationContract,
    divergence,
)
from quantsentinel.ml.registry.metrics import (
    classification_metrics,
    expected_calibration_error,
    regression_metrics,
    roc_auc,
)


def _contract(**kw) -> ValidationContract:
    base = {
        "primary": MetricRule("auc"),
        "floors": {"accuracy": 0.55, "brier": 0.25},
        "required_metrics": ("brier",),
        "secondary_tolerances": {"brier": 0.005},
    }
    return ValidationContract(**{**base, **kw})


GOOD = {"auc": 0.72, "accuracy": 0.60, "brier": 0.22}
CHAMP = {"auc": 0.70, "accuracy": 0.58, "brier": 0.219}


def _names(verdict) -> list[str]:
    return [c["name"] for c in verdict.checks]


# ---------------------------------------------------------------- gates
def test_good_candidate_passes_with_every_check_recorded():
    v = _contract().check_candidate(GOOD, CHAMP)
    assert v.passed and v.blocked_by is None
    assert _names(v) == [
        "required_metric:auc",
        "required_metric:brier",
        "floor:accuracy",
        "floor:brier",
        "beats_champion:auc",
        "tolerance:brier",
    ]
    assert all(
        set(c) == {"name", "passed", "skipped", "value", "bound", "detail"} for c in v.checks
    )
    json.dumps(v.to_json(), allow_nan=False)  # the audit row must be strict JSON


def test_floor_blocks_below_minimum_and_boundary_passes():
    v = _contract().check_candidate({**GOOD, "accuracy": 0.54}, CHAMP)
    assert not v.passed and v.blocked_by == "floor:accuracy"
    assert "0.54" in v.reason and "0.55" in v.reason
    assert _contract().check_candidate({**GOOD, "accuracy": 0.55}, CHAMP).passed


def test_lower_is_better_floor_is_a_ceiling():
    # brier is lower-is-better, so its "floor" of 0.25 is a ceiling: 0.26 fails, 0.25 passes.
    c = _contract(secondary_tolerances={})
    v = c.check_candidate({**GOOD, "brier": 0.26}, None)
    assert v.blocked_by == "floor:brier" and "ceiling" in v.reason
    assert c.check_candidate({**GOOD, "brier": 0.25}, None).passed
    # A contract can declare its own lower-is-better metric.
    c2 = ValidationContract(
        MetricRule("auc"), floors={"drawdown": 0.1}, lower_is_better=("drawdown",)
    )
    assert c2.check_candidate({"auc": 0.6, "drawdown": 0.12}, None).blocked_by == "floor:drawdown"
    assert c2.check_candidate({"auc": 0.6, "drawdown": 0.08}, None).passed


@pytest.mark.parametrize("brier", [None, math.nan, math.inf])
def test_required_metric_missing_or_non_finite_blocks(brier):
    metrics = {k: v for k, v in GOOD.items() if k != "brier"}
    if brier is not None:
        metrics["brier"] = brier
    v = _contract().check_candidate(metrics, CHAMP)
    assert v.blocked_by == "required_metric:brier"
    assert ("missing" if brier is None else "not finite") in v.reason
    row = next(c for c in v.checks if c["name"] == "required_metric:brier")
    assert row["value"] is None  # NaN never reaches the JSON audit row


def test_primary_metric_is_implicitly_required():
    v = _contract().check_candidate({"accuracy": 0.6, "brier": 0.2}, None)
    assert v.blocked_by == "required_metric:auc"


def test_no_champion_records_comparisons_as_skipped_not_failed():
    v = _contract().check_candidate(GOOD, None)
    assert v.passed
    beat = next(c for c in v.checks if c["name"] == "beats_champion:auc")
    tol = next(c for c in v.checks if c["name"] == "tolerance:brier")
    assert beat["passed"] and beat["skipped"] and "no champion" in beat["detail"]
    assert tol["passed"] and tol["skipped"]
    assert "2 skipped" in v.reason


def test_equal_primary_is_not_better():
    v = _contract().check_candidate({**GOOD, "auc": 0.70}, CHAMP)
    assert v.blocked_by == "beats_champion:auc"


def test_min_improvement_edge_is_strict():
    c = _contract(min_improvement=0.01)
    # 0.71 - 0.70 is 0.01000...09 in binary; it must still count as "equal", not "better".
    assert c.check_candidate({**GOOD, "auc": 0.71}, CHAMP).blocked_by == "beats_champion:auc"
    assert c.check_candidate({**GOOD, "auc": 0.7101}, CHAMP).passed
    row = next(r for r in c.check_candidate(GOOD, CHAMP).checks if r["name"].startswith("beats"))
    assert row["bound"] == pytest.approx(0.71)


def test_lower_is_better_primary_must_decrease():
    c = ValidationContract(MetricRule("rmse", higher_is_better=False))
    assert c.check_candidate({"rmse": 1.9}, {"rmse": 2.0}).passed
    assert c.check_candidate({"rmse": 2.1}, {"rmse": 2.0}).blocked_by == "beats_champion:rmse"


def test_secondary_tolerance_boundary():
    c = _contract(floors={})
    # 0.224 - 0.219 is exactly the tolerance (up to float noise): allowed.
    assert c.check_candidate({**GOOD, "brier": 0.224}, CHAMP).passed
    v = c.check_candidate({**GOOD, "brier": 0.231}, CHAMP)
    assert v.blocked_by == "tolerance:brier"
    assert v.reason == "brier 0.231 regressed by 0.012 > tolerance 0.005 vs champion 0.219"
    # Higher-is-better secondary: a drop of accuracy is the regression.
    c2 = ValidationContract(MetricRule("auc"), secondary_tolerances={"accuracy": 0.02})
    assert c2.check_candidate({"auc": 0.8, "accuracy": 0.56}, {"auc": 0.7, "accuracy": 0.58}).passed
    v2 = c2.check_candidate({"auc": 0.8, "accuracy": 0.55}, {"auc": 0.7, "accuracy": 0.58})
    assert v2.blocked_by == "tolerance:accuracy"


def test_all_checks_recorded_after_first_failure():
    c = _contract(validators=("no_nan_predictions",))
    bad = {"auc": 0.60, "accuracy": 0.50, "brier": 0.30}
    v = c.check_candidate(bad, CHAMP, EvaluationPayload(y_prob=np.array([0.2, np.nan])))
    failed = [r["name"] for r in v.checks if not r["passed"]]
    assert failed == [
        "floor:accuracy",
        "floor:brier",
        "beats_champion:auc",
        "tolerance:brier",
        "validator:no_nan_predictions",
    ]
    assert v.blocked_by == "floor:accuracy"  # the first failure is the canonical reason


def test_validator_without_payload_fails_with_reason():
    v = _contract(validators=("calibration",)).check_candidate(GOOD, CHAMP, payload=None)
    assert v.blocked_by == "validator:calibration" and "no evaluation payload" in v.reason


def test_calibration_validator_uses_contract_params():
    # Bin-wise miscalibration 0.1 everywhere: fails the default 0.05, passes a 0.15 bound.
    y = np.array([0] * 8 + [1] * 2)
    payload = EvaluationPayload(y_true=y, y_prob=np.full(10, 0.3))
    strict = _contract(validators=("calibration",))
    loose = _contract(
        validators=("calibration",), validator_params={"calibration": {"max_ece": 0.15}}
    )
    v = strict.check_candidate(GOOD, CHAMP, payload)
    assert v.blocked_by == "validator:calibration"
    row = v.checks[-1]
    assert row["value"] == pytest.approx(0.1) and row["bound"] == 0.05
    assert loose.check_candidate(GOOD, CHAMP, payload).passed


# ---------------------------------------------------------------- construction and JSON
def test_unknown_validator_or_param_fails_at_construction():
    with pytest.raises(ValueError, match=r"unknown validator.*calibraton"):
        ValidationContract(MetricRule("auc"), validators=("calibraton",))
    with pytest.raises(ValueError, match=r"unknown params.*max_eca"):
        ValidationContract(
            MetricRule("auc"),
            validators=("calibration",),
            validator_params={"calibration": {"max_eca": 0.1}},
        )
    with pytest.raises(ValueError, match="not in validators"):
        ValidationContract(MetricRule("auc"), validator_params={"calibration": {"max_ece": 0.1}})
    with pytest.raises(ValueError, match="tolerance"):
        ValidationContract(MetricRule("auc"), secondary_tolerances={"brier": -0.1})


def test_json_round_trip():
    c = _contract(
        min_improvement=0.005,
        validators=("calibration", "no_arm_collapse"),
        validator_params={"no_arm_collapse": {"max_share": 0.6, "n_arms": 4}},
        max_shadow_divergence=0.1,
        lower_is_better=("drawdown",),
    )
    d = json.loads(json.dumps(c.to_json()))  # through real JSON, as the table stores it
    back = ValidationContract.from_json(d)
    assert back == c and back.to_json() == c.to_json()
    assert back.params_for("no_arm_collapse") == {
        "max_share": 0.6,
        "min_entropy": None,
        "n_arms": 4,
    }
    with pytest.raises(ValueError, match="unknown contract keys"):
        ValidationContract.from_json({**d, "flor": {}})


def test_shadow_gate():
    c = _contract(max_shadow_divergence=0.1)
    assert c.check_shadow(0.1).passed
    v = c.check_shadow(0.15)
    assert v.blocked_by == "shadow_divergence" and "0.15 > max 0.1" in v.reason
    assert c.check_shadow(math.nan).blocked_by == "shadow_divergence"
    unbounded = _contract().check_shadow(0.9)
    assert unbounded.passed and unbounded.checks[0]["skipped"]


# ---------------------------------------------------------------- validators
def test_ece_by_hand():
    # 2 bins: [0,0.5) holds p 0.2, 0.4 (mean 0.3, hit rate 0.5); [0.5,1] holds 0.6, 0.8 (0.7, 1.0).
    # ECE = 0.5*|0.5-0.3| + 0.5*|1.0-0.7| = 0.1 + 0.15.
    ece = expected_calibration_error([0, 1, 1, 1], [0.2, 0.4, 0.6, 0.8], n_bins=2)
    assert ece == pytest.approx(0.25)
    # p = 1.0 lands in the last bin, not an out-of-range one.
    assert expected_calibration_error([1], [1.0]) == 0.0


def test_ece_calibrated_sample_near_zero_and_overconfident_above_bound():
    # Exactly calibrated by construction: in each bin centre c, round(20c) of 20 rows are positive.
    centres = np.arange(0.05, 1.0, 0.1)
    y = np.concatenate([[1] * round(20 * c) + [0] * (20 - round(20 * c)) for c in centres])
    assert expected_calibration_error(y, np.repeat(centres, 20)) == pytest.approx(0.0, abs=1e-12)
    # A random calibrated sample: y ~ Bernoulli(p). ECE is only sampling noise.
    rng = np.random.default_rng(7)
    p = rng.uniform(size=50_000)
    assert expected_calibration_error(rng.uniform(size=p.size) < p, p) < 0.01
    # Overconfident: true rate 0.6, predicted 0.95 -> ECE ~ 0.35, far above the 0.05 default.
    y_over = rng.uniform(size=10_000) < 0.6
    ok, detail, value = VALIDATORS["calibration"](
        EvaluationPayload(y_true=y_over, y_prob=np.full(10_000, 0.95)),
        {"max_ece": 0.05, "n_bins": 10},
    )
    assert not ok and value == pytest.approx(0.35, abs=0.02) and "> bound 0.0500" in detail


def test_no_arm_collapse():
    check = VALIDATORS["no_arm_collapse"]
    params = {"max_share": 0.8, "min_entropy": None, "n_arms": None}
    collapsed = EvaluationPayload(actions=np.array([2] * 9 + [0]))
    ok, detail, share = check(collapsed, params)
    assert not ok and share == pytest.approx(0.9) and "0.900 > max 0.800" in detail
    ok, _, share = check(EvaluationPayload(actions=np.array(["a", "b", "a", "c"])), params)
    assert ok and share == 0.5
    # Entropy floor, normalised by the 4 arms available: two arms 50/50 give ln2/ln4 = 0.5.
    two_of_four = EvaluationPayload(actions=np.array([0, 1] * 5))
    assert check(two_of_four, {**params, "n_arms": 4, "min_entropy": 0.5})[0]
    ok, detail, _ = check(two_of_four, {**params, "n_arms": 4, "min_entropy": 0.6})
    assert not ok and "entropy 0.500 < min 0.600" in detail
    assert not check(EvaluationPayload(), params)[0]


def test_no_nan_predictions():
    check = VALIDATORS["no_nan_predictions"]
    assert check(EvaluationPayload(y_prob=np.array([0.1, 0.9])), {})[0]
    ok, detail, bad = check(EvaluationPayload(y_prob=np.array([0.1, np.nan, np.inf])), {})
    assert not ok and bad == 2 and detail.startswith("2 non-finite of 3")


def test_divergence_kinds():
    a, b = np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.5, 0.6])
    assert divergence(a, b) == pytest.approx((0.1 + 0.0 + 0.3) / 3)
    assert divergence(a, b, "max_abs") == pytest.approx(0.3)
    assert divergence([1, -1, 1, 1], [1, 1, -1, 1], "flip_rate") == 0.5
    assert divergence(["HOLD", "EXIT"], ["HOLD", "HOLD"], "flip_rate") == 0.5
    with pytest.raises(ValueError, match="unknown divergence kind"):
        divergence(a, b, "kl")
    with pytest.raises(ValueError, match="equal non-empty"):
        divergence(a, b[:2])


# ---------------------------------------------------------------- metrics
def test_classification_metrics_by_hand():
    y, p = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    m = classification_metrics(y, p)
    # AUC: positive pairs (0.35 vs 0.1 win, 0.35 vs 0.4 loss, 0.8 beats both) -> 3 of 4.
    assert m["auc"] == pytest.approx(0.75)
    # Brier: (0.1^2 + 0.4^2 + 0.65^2 + 0.2^2) / 4 = 0.6325 / 4.
    assert m["brier"] == pytest.approx(0.158125)
    assert m["accuracy"] == 0.75  # 0.35 is the one miss at threshold 0.5
    assert m["log_loss"] == pytest.approx(
        -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    )
    # One row per 10-wide bin, so ECE is the mean |y - p| = (0.1 + 0.4 + 0.65 + 0.2) / 4.
    assert m["ece"] == pytest.approx(0.3375)
    # Ties get half credit: pos 0.6 ties neg 0.6 -> (1 + 0.5 + 2) / 4.
    assert roc_auc([0, 0, 1, 1], [0.2, 0.6, 0.6, 0.9]) == pytest.approx(0.875)


def test_classification_metrics_edge_cases():
    # Log loss is clipped: a certain miss costs -ln(1e-15), large but finite.
    assert classification_metrics([1], [0.0])["log_loss"] == pytest.approx(-math.log(1e-15))
    notes: list[str] = []
    m = classification_metrics([1, 1, 1], [0.7, 0.8, 0.9], notes)
    assert math.isnan(m["auc"]) and m["accuracy"] == 1.0
    assert notes == ["auc undefined: slice of 3 rows has only class 1"]
    with pytest.raises(ValueError, match="binary"):
        classification_metrics([0, 2], [0.1, 0.2])


def test_regression_metrics_by_hand():
    y, f = [1, -2, 3, 0], [2, -1, -1, 5]
    m = regression_metrics(y, f)
    # errors 1, 1, -4, 5: MSE 43/4, MAE 11/4; SS_tot about mean 0.5 is 13 -> r2 = 1 - 43/13.
    assert m["rmse"] == pytest.approx(math.sqrt(10.75))
    assert m["mae"] == pytest.approx(2.75)
    assert m["r2"] == pytest.approx(1 - 43 / 13)
    # y = 0 has no direction; of the other three, (3, -1) is the miss.
    assert m["directional_accuracy"] == pytest.approx(2 / 3)
    notes: list[str] = []
    flat = regression_metrics([0, 0], [1, 1], notes)
    assert math.isnan(flat["r2"]) and math.isnan(flat["directional_accuracy"]) and len(notes) == 2
