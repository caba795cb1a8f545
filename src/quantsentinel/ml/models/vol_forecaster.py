"""The `vol_forecaster` model type: HAR (best jump treatment) + GARCH (best kind) per underlying,
combined by the QLIKE-weighted ensemble; trained, judged and served through the registry.

Training (per underlying, on the training slice only):
1. a rolling out-of-sample evaluation chooses the HAR jump treatment (none / downweight / HAR-CJ)
   and the GARCH kind (GARCH / GJR) by QLIKE, and scores the ensemble against the naive
   baselines (`ml.vol.evaluation`); that table and the forecast-vs-realized plot go to MLflow;
2. the chosen HAR and GARCH are re-fitted on the whole slice and frozen into the JSON artifact.

Held-out evaluation (the registry's paired gate) serves the frozen fits through the held-out days
exactly as the `vol_forecasts` asset does, and scores QLIKE / MSE / out-of-sample R^2 per
horizon. The contract (below) refuses a forecaster that loses to the 22-day rolling mean, which is
also the baseline that answers when no champion exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from quantsentinel.ml.registry.contracts import EvaluationPayload
from quantsentinel.ml.registry.registry import EvaluationOutput, TrainingOutput
from quantsentinel.ml.vol.forecaster import (
    BASELINE_WINDOW,
    RETURN_COLUMN,
    ForecastError,
    UnderlyingFit,
    VolForecast,
    VolForecaster,
    baseline_forecast,
)
from quantsentinel.ml.vol.losses import DEFAULT_HORIZONS, naive_forecasts

TYPE_ID = "vol_forecaster"
DEFAULT_PARAMS: dict[str, Any] = {
    "universe": ["NIFTY", "BANKNIFTY"],
    # The simulator's calendar covers 2024-2026 (~740 trading days): one trading year of rolling
    # window leaves about a year of out-of-sample origins to choose treatments on.
    "har_window": 250,
    "garch_window": 250,
    "refit_every": 20,
    "ensemble_window": 60,
    "garch_dist": "t",
}
# Must beat the 22-day rolling mean (the baseline that answers without a champion) in QLIKE at
# every horizon, and a candidate must not regress on the champion by more than 2% in QLIKE.
CONTRACT: dict[str, Any] = {
    "primary": {"name": "qlike_h1", "higher_is_better": False},
    "floors": {"qlike_ratio_h1": 1.0, "qlike_ratio_h5": 1.0, "qlike_ratio_h22": 1.0},
    "required_metrics": ["qlike_h1", "qlike_h5", "qlike_h22", "mse_h1", "oos_r2_h1"],
    "secondary_tolerances": {"qlike_h5": 0.02, "qlike_h22": 0.02},
    "validators": ["no_nan_predictions"],
    # Shadow predictions are annualised 1-day vols: 3 vol points of disagreement on average.
    "max_shadow_divergence": 0.03,
    "lower_is_better": [
        "qlike_h1", "qlike_h5", "qlike_h22", "qlike_ratio_h1", "qlike_ratio_h5",
        "qlike_ratio_h22",
    ],
}  # fmt: skip


def vol_dataset(simulator: Any, universe: Sequence[str], start: date, end: date):
    """Simulated realized measures + daily returns per underlying for trading days in [start,
    end)."""
    from quantsentinel.ml.vol.reference import simulated_measures

    return {u: simulated_measures(simulator, u, start, end) for u in universe}


def _complete(measures: pd.DataFrame) -> pd.DataFrame:
    """Drop the leading day(s) without a close-to-close return (the first day of the span)."""
    ok = measures[RETURN_COLUMN].notna()
    first = ok.to_numpy().argmax() if ok.any() else len(measures)
    return measures.iloc[first:]


def train_vol_forecaster(
    data: Mapping[str, pd.DataFrame], params: Mapping[str, Any] | None = None
) -> TrainingOutput:
    """Choose treatment and GARCH kind out of sample, then freeze the fits on the whole slice."""
    from quantsentinel.ml.vol.evaluation import evaluate_vol_models
    from quantsentinel.ml.vol.garch import fit_garch
    from quantsentinel.ml.vol.treatments import DEFAULT_DOWNWEIGHT, fit_treated

    p = {**DEFAULT_PARAMS, **(params or {})}
    fits: dict[str, UnderlyingFit] = {}
    figures, tables, per_underlying = {}, {}, []
    for underlying in p["universe"]:
        measures = _complete(data[underlying])
        evaluation = evaluate_vol_models(
            measures, measures[RETURN_COLUMN], underlying=underlying,
            har_window=p["har_window"], garch_window=p["garch_window"],
            refit_every=p["refit_every"], ensemble_window=p["ensemble_window"],
        )  # fmt: skip
        har = fit_treated(measures, evaluation.chosen_treatment, underlying=underlying)
        garch = fit_garch(measures[RETURN_COLUMN], evaluation.garch_kind, p["garch_dist"])
        fits[underlying] = UnderlyingFit(
            har, evaluation.chosen_treatment, DEFAULT_DOWNWEIGHT, evaluation.garch_kind,
            p["garch_dist"], garch.params,
        )  # fmt: skip
        figures[f"forecast_vs_realized_{underlying}"] = evaluation.plot()
        tables[f"oos_{underlying}"] = evaluation.table
        tables[f"treatments_{underlying}"] = evaluation.treatment_table
        per_underlying.append(_ensemble_metrics(evaluation.table))
    forecaster = VolForecaster(
        fits, horizons=DEFAULT_HORIZONS, ensemble_window=p["ensemble_window"],
        garch_level_window=p["garch_window"], meta={"universe": list(p["universe"])},
    )  # fmt: skip
    validation = {k: float(np.mean([m[k] for m in per_underlying])) for k in per_underlying[0]}
    train = {f"har_rsquared_{u}": f.har.rsquared for u, f in fits.items()}
    return TrainingOutput(
        model=forecaster.to_json(),
        hyperparameters={
            **p,
            "universe": ",".join(p["universe"]),
            **{f"treatment_{u}": f.treatment for u, f in fits.items()},
            **{f"garch_kind_{u}": f.garch_kind for u, f in fits.items()},
        },
        train_metrics=train,
        validation_metrics=validation,
        feature_set=["realized_variance", "bipower_variation", "jump_detected", RETURN_COLUMN],
        figures=figures,
        tables=tables,
    )


def _ensemble_metrics(table: pd.DataFrame, model: str = "ensemble") -> dict[str, float]:
    """qlike_h*, mse_h*, oos_r2_h* of `model`, and its QLIKE ratio to the rolling mean."""
    out: dict[str, float] = {}
    for h, rows in table.groupby("horizon"):
        by_model = rows.set_index("model")
        out[f"qlike_h{h}"] = float(by_model.loc[model, "qlike"])
        out[f"mse_h{h}"] = float(by_model.loc[model, "mse"])
        out[f"oos_r2_h{h}"] = float(by_model.loc[model, "oos_r2_rw"])
        out[f"qlike_ratio_h{h}"] = out[f"qlike_h{h}"] / float(by_model.loc["rolling_mean", "qlike"])
    return out


def served_forecasts(
    model: Mapping[str, Any], measures: pd.DataFrame, underlying: str, start: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ensemble, weights) the frozen forecaster serves at every origin from `start` on."""
    forecaster = VolForecaster.from_json(model)
    measures = _complete(measures)
    n = int((pd.to_datetime(measures.index) >= pd.Timestamp(start)).sum())
    combined, weights, _ = forecaster.forecast_frame(underlying, measures, last=n)
    return combined, weights


def evaluate_vol_forecaster(
    model: Mapping[str, Any], data: Mapping[str, pd.DataFrame], holdout_start: date
) -> EvaluationOutput:
    """Serve the frozen fits through the held-out days and score them (mean over underlyings).

    `data` spans the training slice too: the forecaster's lags and ensemble record need it.
    Only origins on or after `holdout_start` are scored, against targets inside the data.
    """
    from quantsentinel.ml.vol.evaluation import score_table

    per_underlying, predictions = [], []
    for underlying in VolForecaster.from_json(model).fits:
        measures = _complete(data[underlying])
        combined, _ = served_forecasts(model, measures, underlying, holdout_start)
        rv = measures["realized_variance"]
        naive = naive_forecasts(rv, DEFAULT_HORIZONS, mean_window=BASELINE_WINDOW)
        forecasts = {"ensemble": combined.reindex(rv.index), **naive}
        table = score_table(forecasts, rv)
        per_underlying.append(_ensemble_metrics(table))
        predictions.append(combined.to_numpy(dtype=float).ravel())
    metrics = {k: float(np.mean([m[k] for m in per_underlying])) for k in per_underlying[0]}
    return EvaluationOutput(
        metrics=metrics, payload=EvaluationPayload(y_prob=np.concatenate(predictions))
    )


def score_live_vol(
    model: Mapping[str, Any], data: Mapping[str, pd.DataFrame], start: date
) -> dict[str, float]:
    """{"<underlying>-<day>": annualised 1-day vol forecast} for the shadow comparison."""
    out = {}
    for underlying in VolForecaster.from_json(model).fits:
        combined, _ = served_forecasts(model, data[underlying], underlying, start)
        vol = np.sqrt(combined[DEFAULT_HORIZONS[0]] * 252.0)
        out.update({f"{underlying}-{day}": float(v) for day, v in vol.items()})
    return out


def serve_forecast(
    champion: Any, underlying: str, day: date, load_history: Callable[[int], pd.DataFrame]
) -> VolForecast:
    """The forecast the `vol_forecasts` asset publishes for (day, underlying).

    The champion answers when there is one, it was trained on data that ended before `day`
    (serving a backfilled day from a model that saw that day's future would be look-ahead), it
    covers the underlying and the history supports it; otherwise the baseline answers, with the
    reason recorded. ForecastError only when the baseline cannot answer either.
    """
    reason = "no_champion"
    if champion is not None:
        version = champion.version
        forecaster = VolForecaster.from_json(champion.model)
        end = version.training_data_end
        if end is not None and end > day:
            reason = f"champion_trained_through_{end}_after_origin"
        else:
            try:
                forecast = forecaster.forecast(underlying, load_history(forecaster.history_days))
            except ForecastError as exc:
                reason = f"champion_refused:{exc.reason}"
            else:
                return VolForecast(
                    forecast.underlying, forecast.origin, forecast.source, forecast.table,
                    model_version=version.semantic_version,
                )  # fmt: skip
    return baseline_forecast(underlying, load_history(BASELINE_WINDOW), reason=reason)
