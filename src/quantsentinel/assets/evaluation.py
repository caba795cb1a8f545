"""Evaluation reports: how well the volatility models forecast, and how accurately the implied
density is recovered, each as an asset (table + plot in the metadata) and an MLflow run.

They are research assets, not part of the daily market graph: a weekly schedule refreshes them,
and a person opens them before trusting a retrained champion. Both are deterministic functions
of their config (seeded simulator, fixed model parameters, data that ships with `arch`).
"""

from datetime import date

import pandas as pd

import dagster as dg
from quantsentinel.assets.metadata import figure_md, table_md
from quantsentinel.ml.registry.provenance import staged_artifacts
from quantsentinel.resources.registry import RegistryResource


class VolEvaluationConfig(dg.Config):
    underlying: str = "NIFTY"
    sim_start: str = "2024-01-01"  # simulated trading days from here (calendar: 2024-2026)...
    sim_days: int = 700  # ...this many of them
    arch_datasets: str = "sp500,nasdaq"  # comma-separated; "" for the simulator alone
    har_window: int = 250
    garch_window: int = 250
    refit_every: int = 20
    log_to_mlflow: bool = True


def _arch_names(config: VolEvaluationConfig) -> list[str]:
    names = [n.strip() for n in config.arch_datasets.split(",") if n.strip()]
    unknown = sorted(set(names) - {"sp500", "nasdaq"})
    if unknown:
        raise ValueError(f"arch_datasets: unknown {unknown}; choose from sp500, nasdaq")
    return names


def _vol_series(config: VolEvaluationConfig) -> dict[str, pd.DataFrame]:
    """name -> measures frame with `daily_return`, for the simulator and the arch datasets."""
    from quantsentinel.market import calendar
    from quantsentinel.market.simulator import MarketSimulator
    from quantsentinel.ml.vol.reference import arch_reference, simulated_measures

    start = date.fromisoformat(config.sim_start)
    days = calendar.trading_days(start, date(start.year + 10, 1, 1))[: config.sim_days + 1]
    sim = simulated_measures(MarketSimulator(), config.underlying, days[0], days[-1])
    series = {f"simulator_{config.underlying}": sim.iloc[1:]}
    for name in _arch_names(config):
        series[f"arch_{name}"] = arch_reference(name).dropna(subset=["daily_return"])
    return series


@dg.asset(
    group_name="volatility",
    kinds={"mlflow"},
    description="Out-of-sample R², MSE and QLIKE per horizon (1, 5, 22 days) of the ensemble, "
    "each member, each jump treatment and the naive baselines, on the simulator and on the "
    "S&P 500 / NASDAQ data that ships with arch (Garman-Klass range variance), plus VIX as an "
    "implied-vol reference.",
)
def vol_evaluation(
    context: dg.AssetExecutionContext, config: VolEvaluationConfig, registry: RegistryResource
) -> dg.MaterializeResult:
    from quantsentinel.ml.vol.evaluation import evaluate_vol_models
    from quantsentinel.ml.vol.reference import vix_reference_table

    tables, treatments, figures, chosen = [], [], {}, {}
    for name, measures in _vol_series(config).items():
        underlying = config.underlying if name.startswith("simulator") else None
        result = evaluate_vol_models(
            measures, measures["daily_return"], underlying=underlying,
            har_window=config.har_window, garch_window=config.garch_window,
            refit_every=config.refit_every,
        )  # fmt: skip
        tables.append(result.table.assign(dataset=name))
        treatments.append(result.treatment_table.assign(dataset=name))
        figures[name] = result.plot()
        chosen[name] = f"HAR {result.chosen_treatment}, GARCH {result.garch_kind}"
        context.log.info(f"{name}: {chosen[name]}")
    table = pd.concat(tables, ignore_index=True)
    treatment_table = pd.concat(treatments, ignore_index=True)
    vix = vix_reference_table() if "sp500" in _arch_names(config) else pd.DataFrame()
    run_id = None
    if config.log_to_mlflow:
        run_id = _log_report(
            registry, "vol_evaluation", table, treatment_table, vix, figures,
            params=config.model_dump(),
        )  # fmt: skip
    ensemble = table[table["model"] == "ensemble"]
    headline = ensemble.pivot(index="dataset", columns="horizon", values="qlike").reset_index()
    metadata = {
        "chosen": dg.MetadataValue.json(chosen),
        "ensemble_qlike": table_md(headline),
        "evaluation": table_md(table, max_rows=200),
        "treatments": table_md(treatment_table, max_rows=60),
        "vix_reference": table_md(vix),
        "mlflow_run_id": run_id or "",
    }
    for name, fig in figures.items():
        metadata[f"forecast_vs_realized_{name}"] = figure_md(fig, name)
    return dg.MaterializeResult(metadata=metadata)


def _log_report(
    registry: RegistryResource, experiment: str, *frames_and_figures, params: dict
) -> str | None:
    """One MLflow run holding the tables (CSV), the figures (PNG) and the headline metrics."""
    table, treatment_table, vix, figures = frames_and_figures
    tracker = registry.registry().tracker
    if tracker is None:
        return None
    metrics = {
        f"{row.dataset}.{row.model}.h{row.horizon}.{m}": getattr(row, m)
        for row in table.itertuples()
        for m in ("qlike", "mse", "oos_r2_rw", "oos_r2_mean")
    }
    tables = {"evaluation": table, "treatments": treatment_table, "vix": vix}
    plots = {f"forecast_vs_realized_{name}": fig for name, fig in figures.items()}
    with staged_artifacts(plots, tables) as extras:
        return tracker.log_report(
            experiment, f"{experiment}-{date.today()}", params=params, metrics=metrics,
            extra_artifacts=extras,
        )  # fmt: skip


class DensityAccuracyConfig(dg.Config):
    seeds: int = 8  # bid/ask noise draws per model
    n_strikes: int = 161  # 50-point NSE spacing around a 24,000 forward
    log_to_mlflow: bool = True


@dg.asset(
    group_name="surface",
    kinds={"mlflow"},
    description="Breeden-Litzenberger accuracy on chains priced from known models (Black-76 "
    "lognormal, Merton jump-diffusion, Heston) at NSE's 50-point strikes with tick-rounded "
    "bid/ask noise: L1 error of the density and errors of its moments, with the recovered "
    "density drawn against the true one.",
)
def density_accuracy(
    context: dg.AssetExecutionContext, config: DensityAccuracyConfig, registry: RegistryResource
) -> dg.MaterializeResult:
    import numpy as np

    from quantsentinel.ml.density.heston import heston_chain
    from quantsentinel.ml.density.plots import density_vs_histogram
    from quantsentinel.ml.density.synthetic import (
        DEFAULT_SIGMA,
        ChainSpec,
        density_errors,
        lognormal_chain,
        merton_chain,
        recover_density,
    )

    spec = ChainSpec.nse(n_strikes=config.n_strikes)
    models = {
        "lognormal": lognormal_chain(spec),
        "merton": merton_chain(spec=spec),
        "heston": heston_chain(spec=spec),
    }
    rows, figures = [], {}
    for name, (calls, puts, pdf) in models.items():
        for seed in range(config.seeds):
            recovered = recover_density(calls, puts, seed, spec)
            rows.append({"model": name, "seed": seed, **density_errors(recovered, pdf)})
        samples = None
        if name == "lognormal":  # exact draws from the true law: the histogram to compare
            z = np.random.default_rng(0).standard_normal(200_000)
            var = DEFAULT_SIGMA**2 * spec.T
            samples = spec.forward * np.exp(-0.5 * var + np.sqrt(var) * z)
        figures[name] = density_vs_histogram(
            recovered, true_pdf=pdf, samples=samples, title=f"{name}: recovered vs true density"
        )
    table = pd.DataFrame(rows)
    summary = table.drop(columns="seed").groupby("model", sort=False).agg(["mean", "max"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary = summary.reset_index()
    run_id = None
    tracker = registry.registry().tracker if config.log_to_mlflow else None
    if tracker is not None:
        tables = {"density_errors": table, "summary": summary}
        plots = {f"density_{name}": fig for name, fig in figures.items()}
        with staged_artifacts(plots, tables) as extras:
            metrics = {
                f"{row['model']}.{col}": row[col]
                for row in summary.to_dict("records")
                for col in summary.columns
                if col != "model"
            }
            run_id = tracker.log_report(
                "density_accuracy", f"density_accuracy-{date.today()}",
                params=config.model_dump(), metrics=metrics, extra_artifacts=extras,
            )  # fmt: skip
    metadata = {"accuracy": table_md(summary), "mlflow_run_id": run_id or ""}
    for name, fig in figures.items():
        metadata[f"density_{name}"] = figure_md(fig, name)
    return dg.MaterializeResult(metadata=metadata)
