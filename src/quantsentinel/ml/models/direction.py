"""Next-day direction of NIFTY from daily features: the small LightGBM that exercises the
registry end to end (seed 001 §5 pipeline 8 grows from here once the alpha layer exists).

Leakage rule: every feature of day t uses bars up to day t's close; the target is the sign of
day t+1's close-to-close return. `direction_dataset` is the only place that aligns the two.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from quantsentinel.market import calendar
from quantsentinel.ml.registry.contracts import EvaluationPayload
from quantsentinel.ml.registry.metrics import classification_metrics
from quantsentinel.ml.registry.registry import EvaluationOutput, TrainingOutput
from quantsentinel.ml.vol.realized import realized_measures

TYPE_ID = "direction_lgbm"
FEATURES = ["ret_1d", "ret_5d", "rv_1d", "rv_5d", "vix", "vix_change_1d", "jump_share"]
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 40,
    "learning_rate": 0.05,
    "num_leaves": 5,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "verbose": -1,
}
# What a direction model must show before it may replace another (see registry.contracts):
# better than a coin flip out of sample (AUC > 0.52, Brier < 0.26; a constant 0.5 scores 0.25).
CONTRACT: dict[str, Any] = {
    "primary": {"name": "auc", "higher_is_better": True},
    "floors": {"auc": 0.52, "brier": 0.26},
    "required_metrics": ["auc", "brier", "accuracy"],
    "secondary_tolerances": {"brier": 0.02},
    "validators": ["no_nan_predictions", "calibration"],
    "validator_params": {"calibration": {"max_ece": 0.25}},
    "max_shadow_divergence": 0.25,
}


def direction_dataset(simulator: Any, start: date, end: date) -> pd.DataFrame:
    """One row per trading day in [start, end) that has a next day: FEATURES and `target`."""
    days = calendar.trading_days(start, end)
    bars = pd.concat([simulator.bars(d, "NIFTY") for d in days], ignore_index=True)
    vix = pd.concat([simulator.vix_bars(d) for d in days], ignore_index=True)
    return direction_frame(bars, vix).dropna()


def direction_frame(bars: pd.DataFrame, vix: pd.DataFrame) -> pd.DataFrame:
    """FEATURES (and `target`, NaN where the next day is unknown) per session of NIFTY's 1-minute
    `bars` and the India VIX's: the one place training and serving build features."""
    measures = realized_measures(bars).set_index("date")
    close = bars.groupby(bars["ts"].dt.tz_convert("Asia/Kolkata").dt.date)["close"].last()
    vix_close = vix.groupby(vix["ts"].dt.tz_convert("Asia/Kolkata").dt.date)["close"].last()
    frame = pd.DataFrame(index=pd.Index(close.index, name="date"))
    log_close = np.log(close)
    frame["ret_1d"] = log_close.diff()
    frame["ret_5d"] = log_close.diff(5)
    frame["rv_1d"] = measures["realized_vol_annualised"].reindex(frame.index)
    frame["rv_5d"] = frame["rv_1d"].rolling(5).mean()
    frame["vix"] = vix_close.reindex(frame.index)
    frame["vix_change_1d"] = frame["vix"].diff()
    frame["jump_share"] = measures["jump_share"].reindex(frame.index)
    # The target looks one day ahead; everything else looks back. The last day has no target.
    frame["target"] = (log_close.shift(-1) - log_close > 0).astype(float)
    frame.loc[frame.index[-1], "target"] = np.nan
    return frame


# Sessions of bars serving needs before the decision day: 5-day return and 5-day mean RV.
SERVING_SESSIONS = 8


def serve_direction(champion: Any, features: pd.DataFrame, day: date) -> tuple[Any | None, str]:
    """The champion as the direction signal's model on `day`, or None and why.

    `features`: `direction_frame` rows of sessions before `day`; the last complete one is what the
    model reads (its P(up) is for the next session, i.e. `day`). Refused: no champion; a champion
    trained on data through `day` or later (serving a backfilled day from a model that saw its
    future is look-ahead); features missing or incomplete. The returned callable ignores the
    signal's own feature dict: the model has its own features, fixed for the day.
    """
    if champion is None:
        return None, "no_champion"
    end = champion.version.training_data_end
    if end is not None and end >= day:
        return None, f"champion_trained_through_{end}"
    usable = (
        features[pd.Index(features.index) < day].dropna(subset=FEATURES)
        if len(features)
        else features
    )
    if usable.empty:
        return None, "no_features"
    row = usable.iloc[[-1]]
    probability = float(predict_up_probability(champion.model, row)[0])
    version = champion.version.semantic_version

    def model(_: Any) -> float:
        return probability

    model.__name__ = f"{TYPE_ID} {version} (P(up)={probability:.3f} from {row.index[0]})"
    return model, f"champion {version}"


def train_direction(frame: pd.DataFrame, params: dict[str, Any] | None = None, seed: int = 7):
    """Fit on `frame` (time-ordered); the last 20% is the validation split."""
    import lightgbm as lgb

    params = {**DEFAULT_PARAMS, **(params or {}), "random_state": seed}
    cut = int(len(frame) * 0.8)
    fit, val = frame.iloc[:cut], frame.iloc[cut:]
    model = lgb.LGBMClassifier(**params)
    model.fit(fit[FEATURES], fit["target"].astype(int))
    return TrainingOutput(
        model=model,
        hyperparameters=params,
        train_metrics=_metrics(model, fit),
        validation_metrics=_metrics(model, val),
        feature_set=list(FEATURES),
        input_example=fit[FEATURES].head(5).reset_index(drop=True),
    )


def evaluate_direction(model: Any, holdout: pd.DataFrame) -> EvaluationOutput:
    """Metrics and the payload the contract's validators read, on a held-out slice."""
    prob = model.predict_proba(holdout[FEATURES])[:, 1]
    y = holdout["target"].to_numpy(int)
    return EvaluationOutput(
        metrics=classification_metrics(y, prob), payload=EvaluationPayload(y_true=y, y_prob=prob)
    )


def predict_up_probability(model: Any, features: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(features[FEATURES])[:, 1]


def _metrics(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    if frame.empty:
        return {}
    prob = model.predict_proba(frame[FEATURES])[:, 1]
    return classification_metrics(frame["target"].to_numpy(int), prob)
