"""Registered models in the decide path: the promoted direction model fills the direction
signal's slot; without one (or when it cannot answer) the rule baseline does, and the decision
records why (`fallbacks["direction_model"]`).

The volatility forecaster's champion needs nothing here: the `vol_forecasts` asset already
publishes its forecast (or the baseline, with the reason), which the volatility signal reads.

The direction champion (`direction_lgbm`) forecasts NIFTY's next session from daily features
(returns, realised vol, India VIX, jumps). Its features for a decision day are built from the
sessions before it (stored `underlying_bars` / `india_vix` partitions, else the feed when it is
the simulator) by the same `direction_frame` training uses, once per day per process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from quantsentinel.decide.inputs import partition_path, sessions_before

MODEL_UNDERLYING = "NIFTY"
_FEATURES: dict[tuple[str, date], pd.DataFrame] = {}

VixFallback = Callable[[date], pd.DataFrame]


def direction_model(
    load_champion: Callable[[], Any] | None,
    data_dir: Path | str,
    day: date,
    underlying: str,
    *,
    bars_fallback: Callable[[date, str], pd.DataFrame] | None = None,
    vix_fallback: VixFallback | None = None,
) -> tuple[Any | None, str]:
    """(the direction model for the signal, or None; why) for decisions on `day`."""
    if underlying != MODEL_UNDERLYING:
        return None, f"the direction model forecasts {MODEL_UNDERLYING} only"
    if load_champion is None:
        return None, "no registry"
    champion = load_champion()
    if champion is None:
        return None, "no_champion"
    from quantsentinel.ml.models.direction import serve_direction

    key = (str(data_dir), day)
    features = _FEATURES.get(key)
    if features is None:
        features = _features(Path(data_dir), day, bars_fallback, vix_fallback)
        if len(features):  # a day without features is retried: its inputs may land later
            _FEATURES.clear()  # one day at a time per process
            _FEATURES[key] = features
    try:
        return serve_direction(champion, features, day)
    except Exception as exc:  # a model that cannot answer must not stop the decision
        return None, f"champion failed: {type(exc).__name__}: {exc}"


def _features(
    data_dir: Path,
    day: date,
    bars_fallback: Callable[[date, str], pd.DataFrame] | None,
    vix_fallback: VixFallback | None,
) -> pd.DataFrame:
    from quantsentinel.ml.models.direction import SERVING_SESSIONS, direction_frame

    bars, vix = [], []
    for d in sessions_before(day, SERVING_SESSIONS):
        path = partition_path(data_dir, "underlying_bars", d, MODEL_UNDERLYING)
        if path.exists():
            bars.append(pd.read_parquet(path))
        elif bars_fallback is not None:
            bars.append(bars_fallback(d, MODEL_UNDERLYING))
        path = partition_path(data_dir, "india_vix", d, None)
        if path.exists():
            vix.append(pd.read_parquet(path))
        elif vix_fallback is not None:
            vix.append(vix_fallback(d))
    bars = [b for b in bars if len(b)]
    vix = [v for v in vix if len(v)]
    if not bars or not vix:
        return pd.DataFrame()
    return direction_frame(pd.concat(bars, ignore_index=True), pd.concat(vix, ignore_index=True))
