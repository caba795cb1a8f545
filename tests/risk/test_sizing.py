"""Layer-4 sizing: vol-targeted units from the delta-gamma P&L sigma, each cap named when it binds,
the news multiplier, and a CVaR scaler that does nothing without a tail model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.sizing import (
    CVaRScaler,
    SizingPolicy,
    size_structure,
    size_units,
    unit_pnl_sigma,
)
from quantsentinel.risk.structures import build
from quantsentinel.risk.tenancy.policy import RiskPolicy
from tests.risk import castle_fixtures as f

POLICY = SizingPolicy(target_daily_vol_pct=0.005, max_position_loss_pct=0.02, max_leg_lots=50)


def test_unit_sigma_is_the_delta_gamma_pnl_sd_under_a_gaussian_move():
    rng = np.random.default_rng(3)
    spot, daily, delta, gamma = 23_000.0, 0.012, 40.0, 0.9
    moves = rng.standard_normal(400_000) * spot * daily
    pnl = delta * moves + 0.5 * gamma * moves**2
    assert unit_pnl_sigma(delta, gamma, spot, daily) == pytest.approx(pnl.std(), rel=0.01)


def _units(**changes):
    args = dict(
        unit_delta=5.0, unit_gamma=0.02, unit_max_loss=1_000.0, unit_max_leg_lots=1,
        spot=23_000.0, forecast_vol=0.15, capital=2_000_000.0, policy=POLICY,
    )  # fmt: skip
    args.update(changes)
    return size_units(**args)


def test_vol_target_scales_with_capital_and_inversely_with_vol():
    base = _units(unit_max_loss=100.0)
    assert base.binding == "vol_target" and base.units >= 2
    assert _units(unit_max_loss=100.0, capital=4_000_000.0).units in (
        2 * base.units, 2 * base.units + 1,
    )  # fmt: skip
    assert _units(unit_max_loss=100.0, forecast_vol=0.30).units <= base.units // 2 + 1


def test_each_cap_is_named_when_it_binds():
    loss = _units(unit_max_loss=15_000.0)
    assert loss.binding == "loss_budget" and loss.units == math.floor(40_000 / 15_000)
    legs = _units(unit_delta=0.1, unit_gamma=0.0, unit_max_loss=1.0, unit_max_leg_lots=4)
    assert legs.binding == "leg_lots" and legs.units == 50 // 4
    unbounded = _units(unit_max_loss=math.inf)
    assert (unbounded.units, unbounded.binding) == (0, "unbounded")


def test_news_multiplier_reduces_and_blackout_stops():
    full = _units(unit_max_loss=100.0)
    half = _units(unit_max_loss=100.0, news_multiplier=0.5)
    assert half.units == math.floor(full.units * 0.5) and half.binding == "news"
    assert _units(unit_max_loss=100.0, news_multiplier=0.0).units == 0


def test_cvar_scaler_is_a_no_op_without_a_tail_model():
    structure = build("iron_condor", f.chain(), expiry=f.expiry(), width=3, wing=2)
    plain, _ = size_structure(structure, f.chain(), forecast_vol=0.15, capital=2e6, policy=POLICY)
    off = CVaRScaler(target=1.0, veto=2.0)  # would veto everything, if it had a model
    same, _ = size_structure(
        structure, f.chain(), forecast_vol=0.15, capital=2e6, policy=POLICY, cvar_scaler=off
    )
    assert same.units == plain.units and "off" in same.numbers["cvar"]
    half = CVaRScaler(tail_model=lambda s: 4_000.0, target=2_000.0, floor=0.25)
    scaled, _ = size_structure(
        structure, f.chain(), forecast_vol=0.15, capital=2e6, policy=POLICY, cvar_scaler=half
    )
    assert scaled.units == math.floor(plain.units * 0.5)
    veto = CVaRScaler(tail_model=lambda s: 9_000.0, target=2_000.0, veto=8_000.0)
    vetoed, sized = size_structure(
        structure, f.chain(), forecast_vol=0.15, capital=2e6, policy=POLICY, cvar_scaler=veto
    )
    assert (vetoed.units, vetoed.binding, sized) == (0, "cvar", None)


def test_size_structure_scales_every_leg_and_keeps_ratios():
    structure = build("butterfly", f.chain(), expiry=f.expiry(), wing=2, lots=3)
    sizing, sized = size_structure(
        structure,
        f.chain(),
        forecast_vol=0.15,
        capital=5e6,
        policy=SizingPolicy.from_policy(RiskPolicy()),
    )
    assert sizing.units >= 1
    ratios = [leg.lots / structure.unit_lots for leg in structure.legs]
    assert [leg.lots for leg in sized.legs] == [r * sizing.units for r in ratios]
    assert sized.unit_lots == sizing.units


def test_bad_sizing_inputs_are_refused_by_name():
    with pytest.raises(RiskInputError, match="forecast_vol"):
        _units(forecast_vol=float("nan"))
    with pytest.raises(RiskInputError, match="news_multiplier"):
        _units(news_multiplier=1.5)
    with pytest.raises(RiskInputError, match="target_daily_vol_pct"):
        SizingPolicy(target_daily_vol_pct=0.0)
