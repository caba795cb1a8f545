"""The twelve kill switches' trigger logic, pure: each trigger at its boundaries, observations
refused when malformed, and invariants of the measures (drawdown, effective correlation) and of
`evaluate` (the store on a database is in test_kill_switches.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantsentinel.risk.kill_switches import (
    CORRELATION_CLUSTER,
    STRATEGY_DRAWDOWN,
    BookState,
    BrokerState,
    ExchangeState,
    KillSwitchError,
    ModelState,
    Observations,
    PlatformLimits,
    SymbolState,
    TenantState,
    broker_outage,
    capital_floor,
    correlation_cluster,
    dry_run_lock,
    effective_correlation,
    evaluate,
    exchange_halt,
    margin_utilization,
    max_drawdown,
    model_staleness,
    stale_data,
    strategy_drawdown,
    symbol_anomaly,
    tenant_daily_loss,
)
from quantsentinel.risk.kill_switches.triggers import read_correlation_cluster

from .kill_switch_helpers import CAPITAL, LIMITS, POLICY, _probes, _returns

# --- pure triggers: boundaries --------------------------------------------------------------------

NOW = datetime(2025, 6, 2, 4, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=30)


def _state(**changes: Any) -> TenantState:
    return TenantState(**{"tenant_id": "t", "capital": CAPITAL, "created_at": CREATED, **changes})


def test_strategy_drawdown_boundary() -> None:
    limit = CAPITAL * POLICY.strategy_drawdown_pct
    assert strategy_drawdown("t", "s", [20_000.0, -limit], CAPITAL, POLICY) is None
    over = strategy_drawdown("t", "s", [20_000.0, -limit - 0.01], CAPITAL, POLICY)
    assert over is not None and over.scope_key == "t/s" and over.tenant_id == "t"
    # A gain after the trough does not undo the peak-to-trough drawdown.
    assert strategy_drawdown("t", "s", [-limit - 1, 2 * limit], CAPITAL, POLICY) is not None


def test_tenant_daily_loss_boundary() -> None:
    limit = CAPITAL * POLICY.max_daily_loss_pct
    at = _state(realised_pnl=-limit / 2, unrealised_pnl=-limit / 2)
    assert tenant_daily_loss(at, POLICY) is None
    over = _state(realised_pnl=-limit / 2, unrealised_pnl=-limit / 2 - 0.01)
    assert tenant_daily_loss(over, POLICY).numbers["loss"] > limit
    # An unrealised gain offsets a realised loss: the limit is on the day's total.
    assert tenant_daily_loss(_state(realised_pnl=-2 * limit, unrealised_pnl=limit), POLICY) is None


def test_capital_floor_boundary() -> None:
    floor = POLICY.capital_floor
    assert capital_floor(_state(available_capital=floor), POLICY) is None
    assert capital_floor(_state(available_capital=floor - 0.01), POLICY) is not None
    # Without a broker figure, available capital is capital plus the day's P&L.
    assert capital_floor(_state(realised_pnl=floor - CAPITAL - 1), POLICY) is not None


def test_margin_utilization_boundary() -> None:
    cap = POLICY.max_margin_utilization
    assert margin_utilization(_state(margin_used=cap * CAPITAL), POLICY) is None
    assert margin_utilization(_state(margin_used=cap * CAPITAL + 0.01), POLICY) is not None
    broke = _state(available_capital=0.0, margin_used=1.0)
    assert margin_utilization(broke, POLICY).numbers["utilization"] == float("inf")


def test_correlation_cluster_boundary() -> None:
    # The measure itself is checked by the invariants below; here the comparison: a book whose
    # effective correlation equals the limit is clear, one ulp under the limit trips.
    book = BookState([300_000.0, 200_000.0], _returns(0.8))
    reading = read_correlation_cluster("t", book, POLICY, LIMITS)
    rho = reading.numbers["effective_correlation"]
    assert 0.7 < rho < 0.9 and reading.breached
    at = replace(POLICY, max_cluster_correlation=rho)
    assert correlation_cluster("t", book, at, LIMITS) is None
    below = replace(POLICY, max_cluster_correlation=float(np.nextafter(rho, 0.0)))
    assert correlation_cluster("t", book, below, LIMITS) is not None


def test_correlation_cluster_hedges_one_position_and_short_history() -> None:
    correlated = _returns(0.95)
    hedged = BookState([300_000.0, -300_000.0], correlated)
    reading = correlation_cluster("t", hedged, POLICY, LIMITS)
    assert reading is None  # long one, short the other: offsetting, not a cluster
    single = BookState([300_000.0, 0.0], correlated)
    assert correlation_cluster("t", single, POLICY, LIMITS) is None
    policies = {"t": POLICY}
    short = Observations(NOW, tenants=[_state(book=BookState([1.0, 1.0], correlated[:10]))])
    assert (CORRELATION_CLUSTER, "t") not in evaluate(short, policies).clear  # not judged
    empty = Observations(NOW, tenants=[_state(book=BookState([], np.empty((0, 0))))])
    assert (CORRELATION_CLUSTER, "t") in evaluate(empty, policies).clear


def test_dry_run_lock_boundary() -> None:
    tenant = _state()
    at_release = CREATED + timedelta(days=LIMITS.dry_run_days)
    assert dry_run_lock(tenant, at_release, LIMITS) is None
    assert dry_run_lock(tenant, at_release - timedelta(microseconds=1), LIMITS) is not None


def test_symbol_anomaly_boundaries() -> None:
    limits = replace(LIMITS, iv_move=0.0625)
    window = limits.iv_window

    def iv(points: list[tuple[timedelta, float]]) -> SymbolState:
        return SymbolState("NIFTY", 100.0, 100.0, atm_iv=[(NOW - ago, v) for ago, v in points])

    assert symbol_anomaly(iv([(window, 0.25), (timedelta(0), 0.3125)]), NOW, limits) is None
    spike = iv([(window, 0.25), (timedelta(0), float(np.nextafter(0.3125, 1.0)))])
    assert symbol_anomaly(spike, NOW, limits) is not None
    old = iv([(window + timedelta(seconds=1), 0.10), (timedelta(0), 0.3125)])
    assert symbol_anomaly(old, NOW, limits) is None  # the old point is outside the window
    band = SymbolState("RELIANCE", 1100.0, 1000.0, circuit_band=0.10)
    assert symbol_anomaly(band, NOW, LIMITS) is not None  # reaching the band trips
    assert symbol_anomaly(replace(band, spot=1099.99), NOW, LIMITS) is None
    assert symbol_anomaly(replace(band, spot=900.0), NOW, LIMITS) is not None  # either way
    flagged = SymbolState("NIFTY", 100.0, 100.0, circuit_event=True)
    assert "circuit event" in symbol_anomaly(flagged, NOW, LIMITS).reason


def test_broker_outage_boundaries() -> None:
    def broker(results: list[bool]) -> BrokerState:
        return BrokerState("upstox", _probes(NOW, results))

    assert broker_outage(broker([True] * 10 + [False] * 2), NOW, LIMITS) is None
    assert broker_outage(broker([True] * 10 + [False] * 3), NOW, LIMITS) is not None
    half = [False, True] * 5  # 50% over 10 probes in the window, last one healthy
    assert broker_outage(broker(half), NOW, LIMITS) is None
    worse = [False, False, True] * 3 + [True]  # 6 of 10 failed, never 3 in a row
    assert broker_outage(broker(worse), NOW, LIMITS).numbers["error_rate"] == 0.6
    few = [False, False, True, False, True]  # 60% but fewer than broker_min_probes
    assert broker_outage(broker(few), NOW, LIMITS) is None
    assert broker_outage(BrokerState("groww", []), NOW, LIMITS) is None  # never probed


def test_exchange_halt_levels() -> None:
    def nse(level: float, **changes: Any) -> ExchangeState:
        return ExchangeState("NSE", level, 20_000.0, **changes)

    assert exchange_halt(nse(18_000.01), LIMITS) is None
    for level, expected in ((18_000.0, 0.10), (17_000.0, 0.15), (24_000.0, 0.20)):
        trip = exchange_halt(nse(level), LIMITS)
        assert trip is not None and trip.numbers["level_reached"] == expected
    assert "halted" in exchange_halt(nse(20_000.0, halted=True), LIMITS).reason


def test_stale_data_and_model_staleness_boundaries() -> None:
    after = LIMITS.stale_after
    assert stale_data("NIFTY", NOW - after, NOW, LIMITS) is None
    assert stale_data("NIFTY", NOW - after - timedelta(milliseconds=1), NOW, LIMITS) is not None
    assert stale_data("NIFTY", None, NOW, LIMITS) is not None
    day = timedelta(days=1)
    assert model_staleness(ModelState("m", day, NOW - 2 * day), NOW, LIMITS) is None
    stale = ModelState("m", day, NOW - 2 * day - timedelta(seconds=1))
    assert model_staleness(stale, NOW, LIMITS) is not None
    assert model_staleness(ModelState("m", day, None), NOW, LIMITS) is not None


@pytest.mark.parametrize(
    "build",
    [
        lambda: Observations(datetime(2025, 1, 1)),
        lambda: _state(capital=float("nan")),
        lambda: _state(capital=-1.0),
        lambda: Observations(NOW, tenants=[_state(), _state()]),
        lambda: BookState([1.0, 2.0], np.zeros((5, 3))),
        lambda: ModelState("m", timedelta(0), NOW),
        lambda: SymbolState("X", 0.0, 100.0),
        lambda: PlatformLimits(market_wide_levels=(0.2, 0.1)),
    ],
)
def test_bad_observations_are_refused(build: Callable[[], Any]) -> None:
    with pytest.raises(KillSwitchError):
        build()


# --- invariants -----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=40))
def test_max_drawdown_is_the_largest_earlier_peak_minus_later_point(pnl: list[float]) -> None:
    cumulative = np.concatenate(([0.0], np.cumsum(pnl)))
    brute = max(cumulative[i] - cumulative[j] for j in range(len(cumulative)) for i in range(j + 1))
    dd = max_drawdown(pnl)
    assert dd.max_drawdown == pytest.approx(brute, abs=1e-6)
    assert dd.peak <= dd.trough and dd.max_drawdown >= 0 and dd.current <= dd.max_drawdown


def _random_book(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n, n + 2))
    covariance = factors @ factors.T / (n + 2) * rng.uniform(0.5, 2.0)
    exposures = rng.normal(0, 1e5, n)
    return covariance, exposures


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 8))
def test_effective_correlation_is_the_risk_weighted_average_pair_correlation(
    seed: int, n: int
) -> None:
    covariance, exposures = _random_book(seed, n)
    sigma = np.sqrt(np.diag(covariance))
    corr = covariance / np.outer(sigma, sigma)
    risk = np.abs(exposures) * sigma
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    weight = sum(risk[i] * risk[j] for i, j in pairs)
    pnl_corr = sum(
        risk[i] * risk[j] * np.sign(exposures[i]) * np.sign(exposures[j]) * corr[i, j]
        for i, j in pairs
    )
    rho = effective_correlation(covariance, exposures)
    assert rho == pytest.approx(pnl_corr / weight, abs=1e-9)
    assert -1.0 <= rho <= 1.0
    assert effective_correlation(covariance, 3.5 * exposures) == pytest.approx(rho, abs=1e-9)
    flip = np.ones(n)
    flip[0] = -1.0  # short instrument 0 and flip its returns: the same P&L streams
    flipped = effective_correlation(covariance * np.outer(flip, flip), exposures * flip)
    assert flipped == pytest.approx(rho, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.floats(-0.2, 0.99), st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_effective_correlation_of_a_constant_correlation_long_book_is_that_correlation(
    rho: float, n: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(0.005, 0.04, n)
    corr = np.full((n, n), rho)
    np.fill_diagonal(corr, 1.0)
    exposures = rng.uniform(1e4, 1e6, n)
    assert effective_correlation(corr * np.outer(sigma, sigma), exposures) == pytest.approx(
        rho, abs=1e-9
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-5e4, 5e4, allow_nan=False), min_size=1, max_size=30))
def test_evaluate_trips_exactly_the_breached_readings(pnl: list[float]) -> None:
    tenant = _state(strategy_pnl={"s": pnl}, realised_pnl=sum(pnl))
    evaluation = evaluate(Observations(NOW, tenants=[tenant]), {"t": POLICY})
    tripped = {(t.kind, t.scope_key) for t in evaluation.trips}
    assert tripped.isdisjoint(evaluation.clear)
    assert tripped | evaluation.clear == {(r.kind, r.scope_key) for r in evaluation.readings}
    expect = max_drawdown(pnl).max_drawdown > CAPITAL * POLICY.strategy_drawdown_pct
    assert ((STRATEGY_DRAWDOWN, "t/s") in tripped) == expect
