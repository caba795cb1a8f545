"""Time the risk castle and the cost engine, and count what each wall blocks.

Run: .venv/bin/python benchmarks/bench_risk.py [--candidates N] [--repeat N] [--seed S]

1. Castle evaluation per candidate (p50/p99): a 4-leg iron condor that passes every wall (so
   all seven run) for a tenant with a 20-position book and a 60-day covariance; a fresh
   assessment each time (nothing cached across candidates), as in a decision batch. The same
   through the audited gatekeeper on SQLite (tenant scope, kill switches, one audit row each).
2. Cost engine per order: round trip (entry + exit, every charge line and slippage) for 1, 2
   and 4 legs, p50/p99.
3. N simulated candidates (default 10,000) over simulated NIFTY/BANKNIFTY snapshots of several
   days: random structure, lots, forecast outlook (vol ratio and drift), regime (from the
   forecast vs implied vol), scheduled/surprise news, tenant (four policy profiles, from a ₹4L
   account to ₹1Cr) and book (0-12 positions). Prints, per wall, the candidates it blocks first
   in sequence and the candidates it would block on its own, plus the mean time each wall takes.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.risk.castle.assessment import HedgeUnavailable
from quantsentinel.risk.castle.castle import INPUT, Castle
from quantsentinel.risk.castle.regime import classify_regime
from quantsentinel.risk.castle.types import (
    Book,
    Candidate,
    MarketContext,
    NewsItem,
    Outlook,
    Position,
    TenantContext,
)
from quantsentinel.risk.costs import CostEngine
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.structures import ChainView, build
from quantsentinel.risk.tenancy.policy import BrokeragePlan, RiskPolicy
from quantsentinel.risk.tenancy.store import Tenant

DAYS = (date(2025, 3, 4), date(2025, 6, 10), date(2025, 9, 16), date(2026, 2, 3))
UNDERLYINGS = ("NIFTY", "BANKNIFTY")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def snapshots() -> list[ChainView]:
    sim = MarketSimulator()
    views = []
    for day in DAYS:
        times = sim.snapshot_times(day)
        for ts in (times[10], times[40]):
            for u in UNDERLYINGS:
                views.append(ChainView(sim.chain_snapshot(ts, u)))
    return views


def near_expiry(view: ChainView) -> date:
    expiries = view.expiries()
    return (
        expiries[1]
        if len(expiries) > 1 and (expiries[0] - view.trade_date).days < 3
        else expiries[0]
    )


def outlook(view: ChainView, expiry: date, vol_ratio: float, drift: float) -> Outlook:
    forward, years = view.forward(expiry), max(view.time_to_expiry(expiry), 1e-4)
    vol = view.iv(expiry, view.atm_strike(expiry), "CE") * vol_ratio
    z = np.linspace(-6, 6, 601)
    w = np.exp(-0.5 * z * z)
    prices = forward * (1 + drift) * np.exp(-0.5 * vol**2 * years + vol * np.sqrt(years) * z)
    return Outlook(prices, w / w.sum())


def covariance(rng: np.random.Generator) -> pd.DataFrame:
    # 60 days of daily returns with NIFTY/BANKNIFTY correlation ~0.8, as the market has.
    chol = np.linalg.cholesky(np.array([[1.0, 0.8], [0.8, 1.0]]))
    returns = rng.standard_normal((60, 2)) @ chol.T * np.array([0.009, 0.011])
    return pd.DataFrame(np.cov(returns.T), index=list(UNDERLYINGS), columns=list(UNDERLYINGS))


def tenant(profile: str) -> Tenant:
    policies = {
        "small": (400_000.0, RiskPolicy(max_position_loss_pct=0.05)),
        "careful": (1_000_000.0, RiskPolicy(max_position_loss_pct=0.01, max_open_positions=8)),
        "standard": (2_500_000.0, RiskPolicy()),
        "aggressive": (
            10_000_000.0,
            RiskPolicy(max_position_loss_pct=0.05, max_cost_ratio=0.5, max_open_positions=25),
        ),
    }
    capital, policy = policies[profile]
    return Tenant(profile, profile, capital, BrokeragePlan(), policy, "paper",
                  datetime(2025, 1, 1, tzinfo=UTC))  # fmt: skip


def book(rng: np.random.Generator, n: int, capital: float) -> Book:
    """n open positions using between 0 and 85% of capital as margin between them (a live book's
    utilisation varies across that range), with random delta exposures."""
    shares = rng.dirichlet(np.ones(n)) * rng.uniform(0.0, 0.85) if n else np.zeros(0)
    positions = tuple(
        Position(
            f"p{i}",
            str(rng.choice(UNDERLYINGS)),
            "bench",
            margin=float(shares[i] * capital),
            max_loss=float(rng.uniform(0.002, 0.01) * capital),
            delta_notional=float(rng.normal(0, 0.05) * capital),
        )
        for i in range(n)
    )
    return Book(positions)


def _side(r) -> str:
    return str(r.choice(["long", "short"]))


def _direction(r) -> str:
    return str(r.choice(["bullish", "bearish"]))


KINDS = {
    "single_leg": lambda r: dict(option_type=str(r.choice(["CE", "PE"])), side=_side(r)),
    "vertical_debit": lambda r: dict(direction=_direction(r), width=int(r.integers(1, 4))),
    "vertical_credit": lambda r: dict(direction=_direction(r), width=int(r.integers(1, 4))),
    "straddle": lambda r: dict(side=_side(r)),
    "strangle": lambda r: dict(side=_side(r), width=int(r.integers(1, 6))),
    "iron_condor": lambda r: dict(width=int(r.integers(2, 6)), wing=int(r.integers(1, 4))),
    "iron_fly": lambda r: dict(wing=int(r.integers(1, 5))),
    "butterfly": lambda r: dict(wing=int(r.integers(1, 4))),
    "futures": lambda r: dict(side=_side(r)),
}


def simulated_candidates(views, rng: np.random.Generator, n: int):
    cov = covariance(rng)
    profiles = ("small", "careful", "standard", "aggressive")
    out = []
    while len(out) < n:
        view = views[int(rng.integers(len(views)))]
        expiry = near_expiry(view)
        kind = str(rng.choice(list(KINDS)))
        try:
            structure = build(
                kind, view, expiry=expiry, lots=int(rng.integers(1, 4)), **KINDS[kind](rng)
            )
        except RiskInputError:
            continue  # a strike the chain does not list: not a candidate anyone would propose
        vol_ratio, drift = float(rng.uniform(0.5, 1.6)), float(rng.normal(0, 0.012))
        iv = view.iv(expiry, view.atm_strike(expiry), "CE")
        regime = classify_regime(iv * vol_ratio, iv)
        now = view.ts
        news = ()
        if rng.random() < 0.08:  # a scheduled release near the decision
            news = (
                NewsItem(
                    "rbi",
                    now + timedelta(minutes=float(rng.uniform(-40, 40))),
                    "RBI_POLICY",
                    True,
                    "MARKET",
                ),
            )
        elif rng.random() < 0.05:
            news = (
                NewsItem(
                    "s",
                    now - timedelta(minutes=float(rng.uniform(0, 60))),
                    "SURPRISE",
                    False,
                    "MARKET",
                ),
            )
        t = tenant(str(rng.choice(profiles)))
        look = outlook(view, structure.expiry, vol_ratio, drift)
        candidate = Candidate(t.tenant_id, "bench", structure, now.to_pydatetime(), outlook=look)
        market = MarketContext(view, regime, news, cov)
        out.append(
            (candidate, market, TenantContext(t, book(rng, int(rng.integers(0, 13)), t.capital)))
        )
    return out


def bench_castle(views, rng, repeat: int) -> None:
    castle = Castle()
    view = views[0]
    expiry = near_expiry(view)
    condor = build("iron_condor", view, expiry=expiry, width=3, wing=2)
    t = tenant("aggressive")
    ctx = TenantContext(t, book(rng, 20, t.capital))
    market = MarketContext(view, "NORMAL", (), covariance(rng))
    candidate = Candidate(t.tenant_id, "bench", condor, view.ts.to_pydatetime(),
                          outlook=outlook(view, expiry, 0.6, 0.0))  # fmt: skip
    verdict = castle.evaluate(candidate, market, ctx)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        castle.evaluate(candidate, market, ctx)
        times.append(time.perf_counter() - start)
    print(f"castle, 4-leg iron condor, 20-position book ({verdict.label}; "
          f"walls run: {len(verdict.walls_passed)}):")  # fmt: skip
    print(f"  p50 {pct(times, 50) * 1e3:.2f} ms   p99 {pct(times, 99) * 1e3:.2f} ms   "
          f"({repeat} evaluations)")  # fmt: skip
    bench_gatekeeper(candidate, market, ctx, repeat // 4)


def bench_gatekeeper(candidate, market, ctx, repeat: int) -> None:
    from quantsentinel.db import engine_for, migrate
    from quantsentinel.risk.gatekeeper import RiskGatekeeper
    from quantsentinel.risk.tenancy.store import TenantStore

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        migrate(url)
        engine = engine_for(url)
        stored = TenantStore(engine).add("Aggressive", capital=ctx.tenant.capital,
                                         policy=ctx.tenant.policy, actor="bench")  # fmt: skip
        gate = RiskGatekeeper(engine)
        c = replace(candidate, tenant_id=stored.tenant_id)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            gate.evaluate(c, market, ctx.book, tenant=stored)
            times.append(time.perf_counter() - start)
        batch = [c] * 100
        start = time.perf_counter()
        gate.evaluate_many(
            batch, market, {stored.tenant_id: ctx.book}, tenants={stored.tenant_id: stored}
        )
        per = (time.perf_counter() - start) / len(batch)
        engine.dispose()
    print(f"  through the gatekeeper on SQLite (kill switches + audit row, own transaction): "
          f"p50 {pct(times, 50) * 1e3:.2f} ms  p99 {pct(times, 99) * 1e3:.2f} ms; "
          f"in a 100-candidate batch {per * 1e3:.2f} ms each")  # fmt: skip


def bench_costs(views, repeat: int) -> None:
    engine = CostEngine()
    view = views[0]
    expiry = near_expiry(view)
    orders = {
        1: build("single_leg", view, expiry=expiry, option_type="CE", side="long"),
        2: build("vertical_debit", view, expiry=expiry, direction="bullish", width=2),
        4: build("iron_condor", view, expiry=expiry, width=3, wing=2),
    }
    plan = BrokeragePlan()
    print("cost engine, round trip (entry + exit, every charge line and slippage):")
    for legs, structure in orders.items():
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            engine.round_trip(structure.all_legs, view.trade_date, plan)
            times.append(time.perf_counter() - start)
        print(
            f"  {legs} leg(s): p50 {pct(times, 50) * 1e6:.0f} us   "
            f"p99 {pct(times, 99) * 1e6:.0f} us"
        )


def bench_blocks(views, rng, n: int) -> None:
    castle = Castle()
    start = time.perf_counter()
    candidates = simulated_candidates(views, rng, n)
    print(f"\n{n:,} simulated candidates built in {time.perf_counter() - start:.1f} s")
    first: dict[str, int] = {}
    alone = {w.name: 0 for w in castle.walls}
    wall_time = {w.name: [] for w in castle.walls}
    approved = 0
    start = time.perf_counter()
    for candidate, market, ctx in candidates:
        verdict = castle.evaluate(candidate, market, ctx)
        if verdict.approved:
            approved += 1
        else:
            first[verdict.blocked_by] = first.get(verdict.blocked_by, 0) + 1
    sequential = time.perf_counter() - start
    for candidate, market, ctx in candidates:
        a = castle.assess(candidate, market, ctx)
        for wall in castle.walls:
            t0 = time.perf_counter()
            try:
                blocked = wall.check(a) is not None
            except HedgeUnavailable:
                blocked = False  # no composite to judge: the tail-hedge wall counts it
            except RiskInputError:
                blocked = True
            wall_time[wall.name].append(time.perf_counter() - t0)
            alone[wall.name] += blocked
    each = sequential / n * 1e3
    print(f"castle over {n:,} candidates: {sequential:.1f} s sequential ({each:.2f} ms each); "
          f"approved {approved:,} ({approved / n:.1%})")  # fmt: skip
    print(f"  {'wall':<12} {'blocks first':>12} {'blocks alone':>13} {'mean time':>10}")
    for wall in castle.walls:
        name = wall.name
        print(f"  {name:<12} {first.get(name, 0):>12,} {alone[name]:>13,} "
              f"{statistics.mean(wall_time[name]) * 1e3:>8.3f} ms")  # fmt: skip
    for name in sorted(set(first) - set(alone)):
        print(f"  {name:<12} {first[name]:>12,}")
    if INPUT in first:
        print("  (input: a leg the chain cannot quote, e.g. a hedge strike without a market)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    views = snapshots()
    print(f"{len(views)} snapshots (ChainView) built in {time.perf_counter() - start:.1f} s\n")
    bench_castle(views, rng, args.repeat)
    bench_costs(views, args.repeat)
    bench_blocks(views, rng, args.candidates)


if __name__ == "__main__":
    main()
