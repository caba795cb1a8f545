"""Every model type the registry trains: its registry definition and how to train and evaluate
it. The Dagster shell builds one training asset, retrain schedule and evaluation per entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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


def model_specs() -> dict[str, ModelSpec]:
    specs = [_direction_spec()]
    return {spec.model_type.type_id: spec for spec in specs}
