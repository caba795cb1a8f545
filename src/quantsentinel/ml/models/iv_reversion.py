"""IV mean reversion (seed 001 §5 pipeline 3): will NIFTY's ATM implied vol revert toward its
own recent level within a few days, and does a model know better than a z-score rule?

The IV series. One chain snapshot per trading day (the last of the session, 15:25 IST, so the
expiring weekly still has minutes of life and the close auction is not involved) gives measured
ATM IVs per expiry (`surface.atm_iv`). They are turned into one constant-maturity 30-calendar-day
IV, the India VIX convention, by linear interpolation in total variance w = iv^2 T (flat forward
variance between pillars, which interpolating the vols would not give). The three weeklies end
12-21 days out, so 30 days lies beyond the last pillar every day: w is extended with the forward
variance of the last two pillars (flat forward variance, floored at zero). Expiries under two
days are skipped: their IV is dominated by the last hours' gamma and quote ticks. Measured on
2024-03..2025-12 of the simulator, this series differs from the simulator's true 30-day IV (its
India VIX at the close) by 0.19 vol points on average, against 0.29 for an interpolated 14-day
point that needs no extrapolation, so the convention is also the more accurate one here.

The level IV reverts toward (the "forecast"). A 20-day EWMA of the IV itself (span 20, weight
2/21 on today). Why not HAR-RV: realized vol sits below implied by the variance risk premium and
its forecast says where *realized* vol goes, not where implied settles; the IV's own slow
average is the simplest estimate of the level the market is mean-reverting to, needs no fitted
model, and adapts when the regime shifts (a fixed long-run mean would call a whole crisis
"rich"). It includes day t, so nothing after t is used.

The target, precisely. With IV_t, forecast F_t, gap g_t = F_t - IV_t and s_t = sign(g_t):
    target_t = 1  iff  max_{h=1..H} s_t (IV_{t+h} - IV_t) >= max(|g_t| / 2, MIN_MOVE)
i.e. at some close within the next H trading days IV has covered at least half of the distance
to the level forecast at t, and at least MIN_MOVE (0.5 vol points). The floor is there because
half of a near-zero gap is inside one day's noise: without it a forecast that sits on today's
IV would make "reversion" a coin flip and reward predicting it for calm days. Rows whose next H
days are not all inside the requested span have no target and are dropped, so a training span
never peeks into the slice after it.

Features (all from data up to and including t's 15:25 snapshot or close): the z-score of IV
against its 20-day rolling mean/std, the gap to the forecast, IV level and 1/5-day changes, IV
minus 5-day realized vol (from the project's own bar-based realized measures), the 7-to-21-day
term slope, 25-delta risk reversal and butterfly of the farthest expiry, India VIX level and
1-day change, and calendar days to the nearest expiry (expiry weeks move short-dated IV).

The baseline is the desk rule "fade IV when |z| > 1": `zscore_rule` scores rows by |z| through a
logistic step at the threshold, so its AUC is the AUC of |z| and its positive rate is the share
of rows with |z| > 1. Lift = model minus rule, out of sample, by purged walk-forward CV. On the
simulator the rule ranks this target slightly worse than chance: the hit rate falls as |z| grows,
because the move required grows with the gap while day-to-day IV noise does not
(benchmarks/bench_iv_reversion.py prints both, per fold).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantsentinel.market import calendar
from quantsentinel.ml.registry.contracts import EvaluationPayload
from quantsentinel.ml.registry.registry import EvaluationOutput, TrainingOutput
from quantsentinel.ml.validation.lift import lift_figure, lift_metrics
from quantsentinel.ml.validation.purged_cv import PurgedKFold

if TYPE_CHECKING:
    from quantsentinel.ml.models.catalog import ModelSpec, TrainingWindow

TYPE_ID = "iv_reversion_lgbm"
CM_DAYS = 30  # constant maturity of the IV series, calendar days (India VIX convention)
MIN_PILLAR_DAYS = 2.0  # expiries closer than this are not used as term-structure pillars
WINDOW = 20  # trading days in the z-score's rolling mean/std
FORECAST_SPAN = 20  # EWMA span of the level IV reverts toward
WARMUP_DAYS = 40  # trading days fetched before `start` so the first row's features are complete
MIN_MOVE = 0.005  # smallest move (decimal vol) that counts as reversion: 0.5 vol points
DEFAULT_HORIZON = 5
RULE_THRESHOLD = 1.0
N_SPLITS = 5
MIN_TRAIN_ROWS = 60
TARGET_KEY = "target_horizon_days"  # logged with the hyperparameters: the label's definition
FEATURES = [
    "iv_z", "iv_gap", "iv_atm", "iv_change_1d", "iv_change_5d", "iv_rv_spread",
    "term_slope", "rr25", "bf25", "vix", "vix_change_1d", "days_to_expiry",
]  # fmt: skip
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "learning_rate": 0.03,
    "num_leaves": 4,
    "max_depth": 2,
    "min_child_samples": 25,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "n_jobs": 1,
    "verbose": -1,
}
# Promotion gate: informative out of sample (AUC >= 0.55), no worse than a coin flip in Brier,
# and it must beat the z-score rule on the same slice by at least one AUC point (the floor on
# `auc_lift`; floors accept any metric and higher is better for it). Holdouts are ~40 rows, so
# ECE is noisy and its bound is loose; the calibration check still catches a model that is
# confidently wrong.
CONTRACT: dict[str, Any] = {
    "primary": {"name": "auc", "higher_is_better": True},
    "floors": {"auc": 0.55, "brier": 0.25, "auc_lift": 0.01},
    "required_metrics": ["auc", "brier", "accuracy", "rule_auc", "auc_lift"],
    "secondary_tolerances": {"brier": 0.02},
    "validators": ["no_nan_predictions", "calibration"],
    "validator_params": {"calibration": {"max_ece": 0.2}},
    "max_shadow_divergence": 0.25,
}


# ---------------------------------------------------------------- IV series
def constant_maturity_iv(T: np.ndarray, atm: np.ndarray, target_T: float) -> float:
    """ATM IV at `target_T` years from pillars (T, atm): linear in total variance, flat forward
    variance beyond the last pillar, flat vol before the first; NaN without a usable pillar."""
    T, atm = np.asarray(T, dtype=float), np.asarray(atm, dtype=float)
    ok = np.isfinite(T) & np.isfinite(atm) & (T > 0)
    T, atm = T[ok], atm[ok]
    if T.size == 0 or target_T <= 0:
        return float("nan")
    order = np.argsort(T)
    T, w = T[order], (atm[order] ** 2) * T[order]
    if target_T <= T[0]:
        return float(atm[order][0])
    if target_T <= T[-1]:
        w0 = float(np.interp(target_T, T, w))
    else:
        fwd_var = (w[-1] - w[-2]) / (T[-1] - T[-2]) if T.size > 1 else w[-1] / T[-1]
        w0 = float(w[-1] + max(fwd_var, 0.0) * (target_T - T[-1]))
    return float(np.sqrt(w0 / target_T))


def daily_iv(simulator: Any, underlying: str, days: list[date]) -> pd.DataFrame:
    """Per trading day from its last chain snapshot: iv_atm (30d), iv_7d, iv_21d, rr25, bf25
    (farthest usable expiry) and days_to_expiry. One snapshot a day: measured 10 ms a day to
    generate against 71 ms for all 75, before solving 75x the IVs nobody here uses."""
    from quantsentinel.market.surface import atm_iv, iv_surface

    chains = [simulator.chain_snapshot(simulator.snapshot_times(d)[-1], underlying) for d in days]
    summary = atm_iv(iv_surface(pd.concat(chains, ignore_index=True)))
    summary["date"] = summary["ts"].dt.tz_convert("Asia/Kolkata").dt.date
    rows = []
    for day, g in summary.groupby("date", sort=True):
        usable = g[(g["T"] >= MIN_PILLAR_DAYS / 365) & np.isfinite(g["atm_iv"])]
        T, atm = usable["T"].to_numpy(float), usable["atm_iv"].to_numpy(float)
        far = usable.loc[usable["T"].idxmax()] if len(usable) else None
        rows.append(
            {
                "date": day,
                "iv_atm": constant_maturity_iv(T, atm, CM_DAYS / 365),
                "iv_7d": constant_maturity_iv(T, atm, 7 / 365),
                "iv_21d": constant_maturity_iv(T, atm, 21 / 365),
                "rr25": np.nan if far is None else far["rr25"],
                "bf25": np.nan if far is None else far["bf25"],
                "days_to_expiry": float((g["expiry"].min().date() - day).days),
            }
        )
    return pd.DataFrame(rows).set_index("date")


# ---------------------------------------------------------------- dataset
def _fetch_days(simulator: Any, start: date, end: date, horizon_days: int) -> list[date]:
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days}")
    if end < start:
        raise ValueError(f"span ends before it starts: start={start}, end={end}")
    first = start
    for _ in range(WARMUP_DAYS):
        first = calendar.previous_trading_day(first)
    anchor = getattr(getattr(simulator, "config", None), "anchor", None)
    if anchor is not None:
        first = max(first, anchor)
    return calendar.trading_days(first, end)


def _build(
    simulator: Any, underlying: str, start: date, end: date, horizon_days: int
) -> tuple[pd.DataFrame, pd.Series]:
    """(feature rows in [start, end] with complete features, daily IV incl. the warm-up)."""
    from quantsentinel.ml.vol.realized import realized_measures

    days = _fetch_days(simulator, start, end, horizon_days)
    if not any(d >= start for d in days):
        raise ValueError(f"span {start}..{end} holds no trading day")
    frame = daily_iv(simulator, underlying, days)
    bars = pd.concat([simulator.bars(d, underlying) for d in days], ignore_index=True)
    vix = pd.concat([simulator.vix_bars(d) for d in days], ignore_index=True)
    rv = realized_measures(bars).set_index("date")["realized_vol_annualised"]
    rv.index = pd.Index([pd.Timestamp(t).date() for t in rv.index])
    vix_close = vix.groupby(vix["ts"].dt.tz_convert("Asia/Kolkata").dt.date)["close"].last()

    iv = frame["iv_atm"]
    frame["iv_z"] = (iv - iv.rolling(WINDOW).mean()) / iv.rolling(WINDOW).std()
    frame["iv_forecast"] = iv.ewm(span=FORECAST_SPAN, adjust=False, min_periods=WINDOW).mean()
    frame["iv_gap"] = frame["iv_forecast"] - iv
    frame["iv_change_1d"] = iv.diff()
    frame["iv_change_5d"] = iv.diff(5)
    frame["iv_rv_spread"] = iv - rv.reindex(frame.index).rolling(5).mean()
    frame["term_slope"] = frame["iv_21d"] - frame["iv_7d"]
    frame["vix"] = vix_close.reindex(frame.index) / 100.0
    frame["vix_change_1d"] = frame["vix"].diff()
    out = frame.loc[frame.index >= start, [*FEATURES, "iv_forecast"]].dropna()
    out.index.name = "date"
    return out, iv


def iv_reversion_features(
    simulator: Any, underlying: str, start: date, end: date, horizon_days: int = DEFAULT_HORIZON
) -> pd.DataFrame:
    """FEATURES (and iv_forecast) per trading day in [start, end] with complete features: the
    live-scoring input, since the last days of a span have features but no target yet.

    Up to WARMUP_DAYS trading days before `start` feed the rolling windows; every feature of
    day t uses data of days <= t only.
    """
    return _build(simulator, underlying, start, end, horizon_days)[0]


def reversion_target(
    iv: pd.Series, forecast: pd.Series, horizon_days: int, min_move: float = MIN_MOVE
) -> pd.Series:
    """1.0 where IV covers max(|gap|/2, min_move) toward `forecast` within `horizon_days` rows,
    0.0 where it does not, NaN where any of the next `horizon_days` IVs is missing."""
    iv = iv.astype(float)
    gap = forecast.reindex(iv.index).astype(float) - iv
    ahead = np.column_stack([iv.shift(-h).to_numpy() for h in range(1, horizon_days + 1)])
    moves = np.sign(gap.to_numpy())[:, None] * (ahead - iv.to_numpy()[:, None])
    need = np.maximum(0.5 * np.abs(gap.to_numpy()), min_move)
    hit = (np.max(moves, axis=1) >= need).astype(float)
    complete = np.isfinite(ahead).all(axis=1) & np.isfinite(need)
    return pd.Series(np.where(complete, hit, np.nan), index=iv.index, name="target")


def iv_reversion_dataset(
    simulator: Any, underlying: str, start: date, end: date, horizon_days: int = DEFAULT_HORIZON
) -> pd.DataFrame:
    """FEATURES, iv_forecast and `target` per trading day in [start, end] that has a target
    (the last `horizon_days` days never do). `attrs["horizon_days"]` records H for the CV."""
    n_days = len(calendar.trading_days(start, end)) if end >= start else 0
    if n_days <= horizon_days:
        raise ValueError(
            f"span too short: {start}..{end} has {n_days} trading days, need more than "
            f"horizon_days={horizon_days} for any row to have a target"
        )
    features, iv = _build(simulator, underlying, start, end, horizon_days)
    forecast = features["iv_forecast"].reindex(iv.index)
    target = reversion_target(iv, forecast, horizon_days)
    frame = features.assign(target=target.reindex(features.index)).dropna(subset=["target"])
    if frame.empty:
        raise ValueError(
            f"span too short: no day in {start}..{end} has complete features and a "
            f"{horizon_days}-day target (features need {WINDOW} prior trading days)"
        )
    frame.attrs = {"horizon_days": horizon_days, "underlying": underlying}
    return frame


# ---------------------------------------------------------------- rule and metrics
def zscore_rule(frame: pd.DataFrame, threshold: float = RULE_THRESHOLD) -> np.ndarray:
    """The desk rule as a score: 1 / (1 + exp(-2 (|z| - threshold))), so rows with |z| above the
    threshold score > 0.5 (predicted to revert) and the ranking is that of |z|."""
    z = np.abs(frame["iv_z"].to_numpy(float))
    return 1.0 / (1.0 + np.exp(-2.0 * (z - threshold)))


# ---------------------------------------------------------------- train / evaluate
def _check_frame(frame: pd.DataFrame) -> None:
    missing = [c for c in [*FEATURES, "target"] if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns {missing}; build it with iv_reversion_dataset")
    if len(frame) < MIN_TRAIN_ROWS:
        raise ValueError(
            f"too few rows to train: {len(frame)} < MIN_TRAIN_ROWS={MIN_TRAIN_ROWS} "
            "(lengthen the training span)"
        )
    if frame["target"].nunique() < 2:
        raise ValueError("target has a single class on the training span: nothing to learn")


def _fit(frame: pd.DataFrame, params: dict[str, Any]) -> Any:
    import lightgbm as lgb

    # The logged target horizon may come back in a champion's params; it is not a tree setting.
    model = lgb.LGBMClassifier(**{k: v for k, v in params.items() if k != TARGET_KEY})
    model.fit(frame[FEATURES], frame["target"].astype(int))
    return model


def cross_validate(
    frame: pd.DataFrame,
    params: dict[str, Any] | None = None,
    seed: int = 7,
    n_splits: int = N_SPLITS,
    walk_forward: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Purged CV of model vs rule: (per-fold metrics, out-of-fold rows with both scores).

    Label horizon H comes from `frame.attrs["horizon_days"]`; the embargo is H rows (it only
    matters when walk_forward=False). Folds whose training slice has one class are skipped.
    """
    params = {**DEFAULT_PARAMS, **(params or {}), "random_state": seed}
    horizon = int(frame.attrs.get("horizon_days", DEFAULT_HORIZON))
    cv = PurgedKFold(n_splits, label_horizon=horizon, embargo=horizon, walk_forward=walk_forward)
    folds, oof = [], []
    for k, (train_idx, test_idx) in enumerate(cv.split(frame.index)):
        fit, test = frame.iloc[train_idx], frame.iloc[test_idx]
        if fit["target"].nunique() < 2:
            continue
        prob = _fit(fit, params).predict_proba(test[FEATURES])[:, 1]
        rule = zscore_rule(test)
        m = lift_metrics(test["target"].to_numpy(int), prob, rule)
        span = {"test_start": test.index[0], "test_end": test.index[-1]}
        folds.append({"fold": k, **span, "n_train": len(fit), **m})
        oof.append(pd.DataFrame({"target": test["target"], "prob": prob, "rule": rule}))
    if not folds:
        raise ValueError("no CV fold had both classes in its training slice")
    return pd.DataFrame(folds).set_index("fold"), pd.concat(oof)


def train_iv_reversion(
    frame: pd.DataFrame, params: dict[str, Any] | None = None, seed: int = 7
) -> TrainingOutput:
    """Purged walk-forward CV of model vs rule (validation metrics, fold table, figure), then
    the model refitted on every row. Validation metrics are pooled over the out-of-fold rows."""
    _check_frame(frame)
    params = {**DEFAULT_PARAMS, **(params or {}), "random_state": seed}
    folds, oof = cross_validate(frame, params, seed)
    pooled = lift_metrics(oof["target"].to_numpy(int), oof["prob"], oof["rule"].to_numpy())
    pooled["auc_lift_fold_mean"] = float(folds["auc_lift"].mean())
    pooled["auc_lift_fold_std"] = float(folds["auc_lift"].std(ddof=1))
    pooled["n_folds"] = float(len(folds))
    model = _fit(frame, params)
    y = frame["target"].to_numpy(int)
    train_metrics = lift_metrics(y, model.predict_proba(frame[FEATURES])[:, 1], zscore_rule(frame))
    return TrainingOutput(
        model=model,
        hyperparameters={**params, TARGET_KEY: frame.attrs.get("horizon_days", DEFAULT_HORIZON)},
        train_metrics=train_metrics,
        validation_metrics=pooled,
        feature_set=list(FEATURES),
        input_example=frame[FEATURES].head(5).reset_index(drop=True),
        figures={"cv_lift": cv_figure(folds, oof)},
        tables={"cv_folds": folds},
    )


def evaluate_iv_reversion(model: Any, holdout: pd.DataFrame) -> EvaluationOutput:
    """Model and rule on a held-out slice, with the payload the contract's validators read."""
    prob = predict_reversion_probability(model, holdout)
    y = holdout["target"].to_numpy(int)
    return EvaluationOutput(
        metrics=lift_metrics(y, prob, zscore_rule(holdout)),
        payload=EvaluationPayload(y_true=y, y_prob=prob),
    )


def predict_reversion_probability(model: Any, features: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(features[FEATURES])[:, 1]


def cv_figure(folds: pd.DataFrame, oof: pd.DataFrame) -> Any:
    """Per-fold AUC of model vs rule and pooled out-of-fold ROC curves (a matplotlib Figure)."""
    return lift_figure(folds, oof, rule_label=f"|z| > {RULE_THRESHOLD:g} rule")


# ---------------------------------------------------------------- registry wiring
def model_spec() -> ModelSpec:
    """The catalog entry (catalog.ModelSpec): train / evaluate / score_live on the simulator."""
    from quantsentinel.market.simulator import MarketSimulator
    from quantsentinel.ml.models.catalog import ModelSpec
    from quantsentinel.ml.registry.store import ModelType

    underlying = "NIFTY"

    def train(window: TrainingWindow, params: dict[str, Any], seed: int) -> TrainingOutput:
        # Training rows end the day before the holdout, so no training label sees holdout IV.
        end = window.holdout_start - timedelta(days=1)
        frame = iv_reversion_dataset(MarketSimulator(), underlying, window.train_start, end)
        return train_iv_reversion(frame, params, seed)

    def evaluate(model: Any, window: TrainingWindow) -> EvaluationOutput:
        holdout = iv_reversion_dataset(
            MarketSimulator(), underlying, window.holdout_start, window.holdout_end
        )
        return evaluate_iv_reversion(model, holdout)

    def score_live(model: Any, start: date, end: date) -> dict[str, float]:
        live = iv_reversion_features(MarketSimulator(), underlying, start, end)
        probs = predict_reversion_probability(model, live)
        return {f"{underlying}-{day}": float(p) for day, p in zip(live.index, probs, strict=True)}

    return ModelSpec(
        model_type=ModelType(
            TYPE_ID,
            "lightgbm",
            retrain_cadence_hours=7 * 24,
            contract=CONTRACT,
            shadow_window_hours=48,
            description=(
                "P(NIFTY 30-day ATM IV covers half its gap to its 20-day EWMA within 5 trading "
                "days), vs the |z| > 1 rule."
            ),
        ),
        retrain_cron="0 19 * * 5",  # Fridays after the close, after the other weekly retrains
        train=train,
        evaluate=evaluate,
        score_live=score_live,
        # ~500 trading days keep five walk-forward folds of ~80 rows each; 120 held-out calendar
        # days leave ~75 scored rows, where an AUC is worth reading (on 40 its noise is ~0.09).
        train_days=730,
        holdout_days=120,
    )
