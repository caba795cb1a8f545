"""Volatility forecasting: HAR speed, and out-of-sample scores on the simulator and arch data.

    .venv/bin/python benchmarks/bench_vol.py [--sim-days 736] [--sim-window 250]
        [--arch-window 750] [--arch-days 0] [--repeats 5] [--skip-arch]

Prints
  (a) HAR fit and forecast times on 5,000 synthetic days (RV and log forms, median of repeats),
      and the rolling 1,500-day evaluation time (batched vs HARFit.forecast per origin);
  (b) OOS QLIKE / MSE / R^2 (vs random walk and vs 22-day mean) for the ensemble, each member,
      each HAR treatment and the naive baselines, per horizon, on the simulator (NIFTY from
      2024-01-01: the calendar's holiday coverage and the simulator's anchor) and on arch's
      sp500 / nasdaq with Garman-Klass RV, plus the VIX reference row and the treatment table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import date, timedelta

import numpy as np
import pandas as pd

from quantsentinel.market import calendar
from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.ml.vol.evaluation import VolEvaluation, evaluate_vol_models
from quantsentinel.ml.vol.har import HARSpec, fit_har
from quantsentinel.ml.vol.reference import arch_reference, simulated_measures, vix_reference_table
from quantsentinel.ml.vol.rolling import rolling_har_forecasts
from quantsentinel.ml.vol.treatments import fit_treated, treated_history


def _fmt(x: float) -> str:
    return f"{x:.4g}" if np.isfinite(x) else "nan"


def synthetic_measures(n: int, seed: int = 11) -> pd.DataFrame:
    """A persistent log-variance process with 5% jump days (RV = C + J, BV ~ C)."""
    rng = np.random.default_rng(seed)
    mu = np.log(1e-4)
    lv = np.full(n, mu)
    for t in range(1, n):
        lv[t] = mu + 0.98 * (lv[t - 1] - mu) + 0.2 * rng.standard_normal()
    cont = np.exp(lv + 0.35 * rng.standard_normal(n))
    jump_day = rng.random(n) < 0.05
    jump = np.where(jump_day, 2.0 * np.exp(lv) * rng.exponential(1.0, n), 0.0)
    return pd.DataFrame(
        {
            "realized_variance": cont + jump,
            "bipower_variation": cont,
            "jump_detected": jump_day,
            "expiry_week": rng.random(n) < 0.2,
        },
        index=pd.bdate_range("2000-01-03", periods=n, name="date"),
    )


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_speed(repeats: int) -> None:
    m = synthetic_measures(5000)
    rv = m["realized_variance"]
    hist = m[["realized_variance"]]
    print("(a) HAR on 5,000 days (median of", repeats, "repeats)")
    for form in ("rv", "log"):
        spec = HARSpec(form=form)
        fit_s = _median_time(lambda spec=spec: fit_har(rv, spec), repeats)
        fit = fit_har(rv, spec)
        fc_s = _median_time(lambda fit=fit: fit.forecast(hist, (1, 5, 22)), repeats)
        print(
            f"  {form:>3} form: fit {fit_s * 1e3:7.1f} ms   forecast (1,5,22) {fc_s * 1e3:6.1f} ms"
        )
    short = m.iloc[:1500]
    for treatment in ("none", "cj"):
        t = time.perf_counter()
        fc = rolling_har_forecasts(short, treatment, window=750, refit_every=20)
        batched = time.perf_counter() - t
        # The per-origin path: HARFit.forecast at 50 origins, extrapolated to all 751.
        fit = fit_treated(short.iloc[:750], treatment)
        history = treated_history(short, treatment)
        t = time.perf_counter()
        for o in range(749, 799):
            fit.forecast(history.iloc[o - 21 : o + 1])
        loop = (time.perf_counter() - t) / 50 * fc[1].notna().sum()
        print(
            f"  rolling 1,500 days, window 750, refit 20, log HAR {treatment:>4}: "
            f"batched {batched:5.2f} s   per-origin HARFit.forecast ~{loop:5.1f} s"
        )


def print_evaluation(title: str, ev: VolEvaluation) -> None:
    print(f"\n{title}: chosen treatment {ev.chosen_treatment!r}, GARCH kind {ev.garch_kind!r}")
    for note in ev.notes:
        print("  note:", note)
    cols = ["model", "horizon", "n", "qlike", "mse", "oos_r2_rw", "oos_r2_mean"]
    print(ev.table[cols].to_string(index=False, float_format=_fmt))
    tt = ev.treatment_table.query("model.str.startswith('har_')")
    print("  treatment comparison (HAR treatments on their own common sample):")
    show = ["treatment", "horizon", "n", "qlike", "mse", "oos_r2_rw", "oos_r2_mean", "status"]
    print(tt[show].to_string(index=False, float_format=_fmt))
    w = ev.weights.xs(1, axis=1, level="horizon").mean()
    print("  mean ensemble weight at h=1:", ", ".join(f"{k} {v:.2f}" for k, v in w.items()))


def bench_simulator(days: int, window: int) -> None:
    t = time.perf_counter()
    first, last = calendar.holiday_coverage()
    span = calendar.trading_days(date(first, 1, 1), date(last, 12, 31))[:days]
    measures = simulated_measures(MarketSimulator(), "NIFTY", span[0], span[-1] + timedelta(days=1))
    built = time.perf_counter() - t
    t = time.perf_counter()
    ev = evaluate_vol_models(
        measures,
        measures["daily_return"],
        underlying="NIFTY",
        har_window=window,
        garch_window=window,
    )
    print(
        f"\n(b) simulator NIFTY {span[0]}..{span[-1]} ({len(measures)} days; jump days "
        f"{measures['jump_detected'].mean():.1%}, "
        f"expiry-week days {measures['expiry_week'].mean():.1%}); "
        f"measures {built:.1f} s, evaluation {time.perf_counter() - t:.1f} s, windows {window}"
    )
    print_evaluation("simulator NIFTY", ev)


def bench_arch(window: int, max_days: int) -> None:
    for name in ("sp500", "nasdaq"):
        measures = arch_reference(name)
        if max_days:
            measures = measures.iloc[-max_days:]
        t = time.perf_counter()
        ev = evaluate_vol_models(
            measures,
            measures["daily_return"],
            underlying=None,
            har_window=window,
            garch_window=window,
        )
        print(
            f"\n(b) arch {name} {measures.index[0].date()}..{measures.index[-1].date()} "
            f"({len(measures)} days, Garman-Klass RV); evaluation {time.perf_counter() - t:.1f} s"
        )
        print_evaluation(f"arch {name}", ev)
        if name == "sp500":
            extra = {k: ev.forecasts[k] for k in ("ensemble", "har", "garch")}
            table = vix_reference_table(measures, horizon=22, extra=extra)
            print("\n  implied vol reference: VIX as a 22-day forecast of S&P 500 GK variance")
            print(table.to_string(index=False, float_format=_fmt))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim-days", type=int, default=736, help="trading days from 2024-01-01")
    parser.add_argument("--sim-window", type=int, default=250)
    parser.add_argument("--arch-window", type=int, default=750)
    parser.add_argument("--arch-days", type=int, default=0, help="last N days only (0 = all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-arch", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"cores: {os.cpu_count()}")
    bench_speed(args.repeats)
    bench_simulator(args.sim_days, args.sim_window)
    if not args.skip_arch:
        bench_arch(args.arch_window, args.arch_days)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
