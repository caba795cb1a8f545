"""OpportunityScorer: the three checks in order, per-tenant thresholds, never a negative net EV."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantsentinel.risk.castle.regime import (
    CRISIS,
    HIGH_VOL,
    LOW_VOL_RANGE,
    NORMAL,
    classify_regime,
)
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.scoring import OpportunityScorer, ScoreThresholds
from quantsentinel.risk.tenancy.policy import RiskPolicy

money = st.floats(min_value=-1e5, max_value=1e5, allow_nan=False)
cost = st.floats(min_value=0, max_value=1e4, allow_nan=False)
prob = st.floats(min_value=0, max_value=1)


@given(edge=money, fees=cost, slip=cost, win=prob)
def test_never_approves_a_non_positive_net_ev(edge, fees, slip, win):
    score = OpportunityScorer().score(
        edge_per_lot=edge, cost_per_lot=fees, slippage_per_lot=slip, win_probability=win
    )
    net = edge - fees - slip
    if score.passed:
        assert net > 0
        assert (fees + slip) / edge <= 0.40 + 1e-12
        assert win >= 0.45
    else:
        # the first failing check, in the documented order, is the one reported
        expected = "net_ev" if net <= 0 else "cost_ratio" if (fees + slip) / edge > 0.4 else "win"
        assert score.failed_check.startswith(expected)


def test_each_check_reports_its_numbers():
    scorer = OpportunityScorer()
    s = scorer.score(edge_per_lot=100, cost_per_lot=80, slippage_per_lot=30, win_probability=0.6)
    assert (s.failed_check, s.numbers["net_ev_per_lot"]) == ("net_ev", -10)
    s = scorer.score(edge_per_lot=100, cost_per_lot=40, slippage_per_lot=12, win_probability=0.6)
    assert s.failed_check == "cost_ratio" and s.numbers["cost_ratio"] == pytest.approx(0.52)
    assert "cost_ratio=0.52 > 0.40" in s.reason
    s = scorer.score(edge_per_lot=100, cost_per_lot=10, slippage_per_lot=5, win_probability=0.40)
    assert s.failed_check == "win_probability" and "0.40 below floor 0.45" in s.reason
    s = scorer.score(edge_per_lot=100, cost_per_lot=10, slippage_per_lot=5, win_probability=0.5)
    assert s.passed and s.numbers["net_ev_per_lot"] == 85


def test_thresholds_come_from_the_tenant_policy():
    loose = ScoreThresholds.from_policy(RiskPolicy(max_cost_ratio=0.6, min_win_probability=0.3))
    s = OpportunityScorer(loose).score(
        edge_per_lot=100, cost_per_lot=40, slippage_per_lot=12, win_probability=0.35
    )
    assert s.passed


def test_zero_edge_fails_net_ev_without_dividing_by_zero():
    s = OpportunityScorer().score(
        edge_per_lot=0.0, cost_per_lot=0.0, slippage_per_lot=0.0, win_probability=0.9
    )
    assert s.failed_check == "net_ev" and math.isinf(s.numbers["cost_ratio"])


@pytest.mark.parametrize(
    "field, value",
    [("cost_per_lot", -1.0), ("slippage_per_lot", float("nan")), ("win_probability", 1.5)],
)
def test_bad_inputs_are_refused_by_name(field, value):
    args = dict(edge_per_lot=100.0, cost_per_lot=1.0, slippage_per_lot=1.0, win_probability=0.5)
    args[field] = value
    with pytest.raises(RiskInputError):
        OpportunityScorer().score(**args)


def test_regimes_from_forecast_and_implied_vol():
    assert classify_regime(0.10, 0.11) == LOW_VOL_RANGE
    assert classify_regime(0.14, 0.15) == NORMAL
    assert classify_regime(0.24, 0.20) == HIGH_VOL
    assert classify_regime(0.18, 0.13) == HIGH_VOL  # forecast 38% above implied
    assert classify_regime(0.30, 0.45) == CRISIS
    with pytest.raises(ValueError, match="forecast_vol"):
        classify_regime(float("nan"), 0.1)
