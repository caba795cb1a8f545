"""Every model type the registry trains: its registry definition and how to train and evaluate
it. The Dagster shell builds one training asset, retrain schedule and evaluation per entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from quantsentinel.ml.registry.registry import EvaluationOutput, TrainingOutput
from quantsentinel.ml.registry.store import ModelType


@dataclass(frozen=True)
class TrainingWindow:
    """Training data ends where the held-out slice starts; the slice ends where "live" starts."""

    train_start: date
    holdout_start: date
    holdout_end: date

    @classmethod
    def ending(cls, end: date, *, train_days: int = 400, holdout_days: int = 60) -> TrainingWindow:
        holdout_start = end - timedelta(days=holdout_days)
        return cls(holdout_start - timedelta(days=train_days), holdout_start, end)

    @property
    def data_version(self) -> str:
        """Names the data exactly: the evaluation job rebuilds the same slices from it."""
        return (
            f"sim-{self.train_start:%Y%m%d}-{self.holdout_start:%Y%m%d}-{self.holdout_end:%Y%m%d}"
        )

    @classmethod
    def parse(cls, data_version: str) -> TrainingWindow:
        try:
            _, *stamps = data_version.split("-")
            start, holdout, end = (datetime.strptime(s, "%Y%m%d").date() for s in stamps)
        except ValueError as exc:
            raise ValueError(f"not a training window data version: {data_version!r}") from exc
        return cls(start, holdout, end)


@dataclass(frozen=True)
class ModelSpec:
    model_type: ModelType
    retrain_cron: str
    train: Callable[[TrainingWindow, dict[str, Any], int], TrainingOutput]
    evaluate: Callable[[Any, TrainingWindow], EvaluationOutput]
    # Scores the model on inputs after the held-out slice (the shadow phase's live inputs):
    # {input_ref: prediction}.
    score_live: Callable[[Any, date, date], dict[str, float]]
    # Calendar days of training data and of the held-out slice (TrainingWindow.ending).
    train_days: int = 400
    holdout_days: int = 60

    def window_ending(self, end: date) -> TrainingWindow:
        days = {"train_days": self.train_days, "holdout_days": self.holdout_days}
        return TrainingWindow.ending(end, **days)


def _direction_spec() -> ModelSpec:
    from quantsentinel.market.simulator import MarketSimulator
    from quantsentinel.ml.models import direction

    def dataset(start: date, end: date):
        return direction.direction_dataset(MarketSimulator(), start, end)

    def train(window: TrainingWindow, params: dict[str, Any], seed: int) -> TrainingOutput:
        return direction.train_direction(
            dataset(window.train_start, window.holdout_start), params, seed
        )

    def evaluate(model: Any, window: TrainingWindow) -> EvaluationOutput:
        return direction.evaluate_direction(
            model, dataset(window.holdout_start, window.holdout_end)
        )

    def score_live(model: Any, start: date, end: date) -> dict[str, float]:
        live = dataset(start, end)
        probs = direction.predict_up_probability(model, live)
        return {f"NIFTY-{day}": float(p) for day, p in zip(live.index, probs, strict=True)}

    return ModelSpec(
        model_type=ModelType(
            direction.TYPE_ID,
            "lightgbm",
            retrain_cadence_hours=7 * 24,
            contract=direction.CONTRACT,
            shadow_window_hours=48,
            description="Next-day NIFTY direction from realized-vol, VIX and return features.",
        ),
        retrain_cron="0 18 * * 5",  # Fridays after the close
        train=train,
        evaluate=evaluate,
        score_live=score_live,
    )


def _vol_forecaster_spec() -> ModelSpec:
    from quantsentinel.ml.models import vol_forecaster as vf

    def dataset(start: date, end: date) -> dict:
        return _simulated_vol_data(tuple(vf.DEFAULT_PARAMS["universe"]), start, end)

    def train(window: TrainingWindow, params: dict[str, Any], seed: int) -> TrainingOutput:
        # Deterministic (no seed): OLS and maximum likelihood have no randomness to seed.
        return vf.train_vol_forecaster(dataset(window.train_start, window.holdout_start), params)

    def evaluate(model: Any, window: TrainingWindow) -> EvaluationOutput:
        data = dataset(window.train_start, window.holdout_end)
        return vf.evaluate_vol_forecaster(model, data, window.holdout_start)

    def score_live(model: Any, start: date, end: date) -> dict[str, float]:
        # The forecaster needs a year of history behind the first live origin.
        return vf.score_live_vol(model, dataset(start - timedelta(days=450), end), start)

    return ModelSpec(
        model_type=ModelType(
            vf.TYPE_ID,
            "json",
            retrain_cadence_hours=7 * 24,
            contract=vf.CONTRACT,
            shadow_window_hours=48,
            description="Realized-variance forecasts 1/5/22 days ahead: HAR (best jump "
            "treatment) + GARCH (best kind) per index, QLIKE-weighted ensemble.",
        ),
        retrain_cron="30 18 * * 5",  # Fridays after the close, after the direction model
        train=train,
        evaluate=evaluate,
        score_live=score_live,
        # A trading year of rolling window plus an out-of-sample stretch to choose treatments
        # on (the simulator's calendar starts in 2024); 120 held-out calendar days leave ~60
        # origins with an observed 22-day target.
        train_days=900,
        holdout_days=120,
    )


@lru_cache(maxsize=8)
def _simulated_vol_data(universe: tuple[str, ...], start: date, end: date) -> dict:
    # Train, evaluate and shadow runs of one version rebuild overlapping spans; simulating and
    # measuring ~750 days of 1-minute bars per index takes seconds, so a process keeps them.
    from quantsentinel.market.simulator import MarketSimulator
    from quantsentinel.ml.models.vol_forecaster import vol_dataset

    return vol_dataset(MarketSimulator(), universe, start, end)


def model_specs() -> dict[str, ModelSpec]:
    from quantsentinel.ml.models import iv_reversion

    specs = [_direction_spec(), _vol_forecaster_spec(), iv_reversion.model_spec()]
    return {spec.model_type.type_id: spec for spec in specs}
