"""Out-of-sample comparison of the volatility forecasters: HAR treatments, GARCH, ensemble, naive.

Every forecast scored here is made in real time under the convention of `losses` (row t uses data
up to the close of t): HAR and GARCH are re-estimated on trailing windows (`rolling`,
`garch.rolling_garch_forecasts`), the ensemble weights only use losses already observed
(`ensemble`), and the naive baselines look back only. Scores are QLIKE and MSE (Patton 2011: both
rank forecasts correctly against a noisy but unbiased RV proxy) and out-of-sample R^2 against the
random walk and against the 22-day rolling mean; every model of a table is scored on the same
dates (the common sample), per horizon.

Two choices are made from the out-of-sample record and are the only hindsight in the exercise:
the HAR treatment (lowest QLIKE at h = 1 among "none", "downweight", "cj"; QLIKE because it is the
loss the ensemble weighs by and is scale-free across calm and turbulent periods) and the GARCH
kind (garch vs gjr, same rule, as `garch.select_garch_kind`). Each is a pick among two or three
candidates, so the selection bias is small, and every candidate's scores are reported beside the
pick (`treatment_table`, and the har_* / garch_* rows of `table`). Pass `treatment=` and
`garch_kind=` to fix them in advance; the forecasts of each candidate never depend on the choice.

GARCH is fitted on close-to-close returns, whose variance includes the overnight move, while RV is
a session measure (see `garch`). By default (`garch_level="session"`) each GARCH forecast is
multiplied by the ratio of summed RV to summed squared returns over the trailing GARCH window
ending at t: a real-time estimate of the session share of daily variance, which puts GARCH on the
scale of the target it is scored against (the raw forecast is kept as "garch_raw"). Without it
GARCH is penalised for a level gap that says nothing about its timing, and the ensemble would
mostly measure that gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from quantsentinel.ml.vol.ensemble import DEFAULT_WINDOW as ENSEMBLE_WINDOW
from quantsentinel.ml.vol.ensemble import ensemble_forecasts
from quantsentinel.ml.vol.garch import GarchError, rolling_garch_forecasts
from quantsentinel.ml.vol.har import RV_COLUMN, HARError, HARSpec
from quantsentinel.ml.vol.losses import (
    DEFAULT_HORIZONS,
    evaluation_table,
    naive_forecasts,
    qlike,
    realized_targets,
)
from quantsentinel.ml.vol.rolling import DEFAULT_REFIT_EVERY, DEFAULT_WINDOW, rolling_har_forecasts
from quantsentinel.ml.vol.treatments import (
    DEFAULT_DOWNWEIGHT,
    DEFAULT_SPEC,
    EXPIRY_COLUMN,
    TREATMENTS,
    expiry_flags_for,
    jump_day_flags,
)

NAIVES = ("random_walk", "rolling_mean")
SCORE_COLUMNS = ["model", "horizon", "n", "qlike", "mse", "oos_r2_rw", "oos_r2_mean"]


def score_table(forecasts: Mapping[str, pd.DataFrame], rv: pd.Series) -> pd.DataFrame:
    """QLIKE, MSE and OOS R^2 vs random walk (oos_r2_rw) and vs rolling mean (oos_r2_mean).

    Long format, one row per (model, horizon), each horizon on the common sample of all
    `forecasts` (the naive baselines are added from `rv` when absent, as R^2 needs them).
    """
    horizons = sorted({int(h) for f in forecasts.values() for h in f.columns})
    fc = dict(forecasts)
    for name, frame in naive_forecasts(rv, horizons).items():
        fc.setdefault(name, frame)
    vs_rw = evaluation_table(fc, rv, benchmark="random_walk")
    vs_mean = evaluation_table(fc, rv, benchmark="rolling_mean")
    out = vs_rw.rename(columns={"oos_r2": "oos_r2_rw"})
    out["oos_r2_mean"] = vs_mean["oos_r2"].to_numpy()
    return out[SCORE_COLUMNS]


@dataclass(frozen=True)
class VolEvaluation:
    """Result of `evaluate_vol_models`.

    table: scores of every model (ensemble, har, garch, har_<treatment>, garch_<kind>, garch_raw,
    random_walk, rolling_mean) per horizon on their common sample. treatment_table: the HAR
    treatments and the naive baselines on their own (larger) common sample, with a `status`
    ("fitted", "equals none ...", a failure is left out and noted) and the `chosen` flag.
    forecasts: name -> frame (dates x horizons).
    weights: the ensemble weights, columns (horizon, member). realized: the RV series scored.
    """

    table: pd.DataFrame
    treatment_table: pd.DataFrame
    chosen_treatment: str
    garch_kind: str
    forecasts: dict[str, pd.DataFrame]
    weights: pd.DataFrame
    realized: pd.Series
    notes: tuple[str, ...] = field(default=())

    def plot(self) -> Any:
        """Matplotlib Figure: h=1 forecasts (ensemble, naive) vs realized RV over the OOS span."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        ens = self.forecasts["ensemble"][1].dropna()
        if ens.empty:
            raise ValueError("too_short: no out-of-sample ensemble forecasts to plot")
        span = self.realized.loc[ens.index[0] : ens.index[-1]].index
        target = self.realized.shift(-1).reindex(span)  # the day each h=1 forecast is for
        fig = Figure(figsize=(11, 4.5))
        FigureCanvasAgg(fig)  # Agg canvas: renders headless, no pyplot global state
        ax = fig.add_subplot(1, 1, 1)
        for name, color, alpha in (("random_walk", "C3", 0.4), ("rolling_mean", "C2", 0.9)):
            fc = self.forecasts[name][1].reindex(span)
            ax.plot(span, fc, color=color, lw=0.9, alpha=alpha, label=name)
        ax.plot(span, self.forecasts["ensemble"][1].reindex(span), "C0", lw=1.2, label="ensemble")
        ax.plot(span, target, "k.", ms=2.5, label="realized RV (t+1)")
        ax.set_yscale("log")
        ax.set_ylabel("daily variance")
        ax.set_title(
            f"1-day variance forecasts (HAR {self.chosen_treatment} + {self.garch_kind}) vs RV"
        )
        ax.legend(loc="upper right", fontsize=8)
        fig.autofmt_xdate()
        return fig


def _aligned_returns(measures: pd.DataFrame, returns: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """Measures and returns on common dates, leading missing returns (the first day) trimmed."""
    if not (measures.index.is_unique and measures.index.is_monotonic_increasing):
        raise HARError("missing_input", "measures must be indexed by unique ascending dates")
    r = pd.Series(returns, dtype=float).reindex(measures.index)
    valid = np.flatnonzero(r.notna().to_numpy())
    if valid.size == 0:
        raise GarchError("nan_gaps", "returns share no dates with measures")
    # Only the leading gap is trimmed; an interior one is refused by GARCH (nan_gaps).
    return measures.iloc[valid[0] :], r.iloc[valid[0] :]


def _choose(forecasts: Mapping[str, pd.DataFrame], rv: pd.Series, h: int) -> str:
    """Lowest QLIKE at horizon h on the candidates' common sample; ties go to the first."""
    frame = pd.concat({k: f[h] for k, f in forecasts.items()}, axis=1)
    frame["__y"] = realized_targets(rv, [h])[h]
    frame = frame.dropna()
    if frame.empty:
        raise HARError("too_short", "no common out-of-sample dates to choose a model on")
    scores = {k: qlike(frame["__y"], frame[k]) for k in forecasts}
    return min(scores, key=lambda k: (scores[k], list(forecasts).index(k)))


def session_share(rv: pd.Series, returns: pd.Series, window: int) -> pd.Series:
    """Trailing sum(RV) / sum(r^2) over `window` days ending at t (uses nothing after t)."""
    num = rv.rolling(window, min_periods=window).sum()
    den = (returns**2).rolling(window, min_periods=window).sum()
    return num / den


def evaluate_vol_models(
    measures: pd.DataFrame,
    returns: pd.Series,
    *,
    underlying: str | None,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    har_window: int | None = DEFAULT_WINDOW,
    garch_window: int = DEFAULT_WINDOW,
    refit_every: int = DEFAULT_REFIT_EVERY,
    ensemble_window: int = ENSEMBLE_WINDOW,
    treatment: str | None = None,
    garch_kind: str | None = None,
    garch_kinds: tuple[str, ...] = ("garch", "gjr"),
    garch_level: Literal["session", "raw"] = "session",
    select_on: int = 1,
    downweight: float = DEFAULT_DOWNWEIGHT,
    spec: HARSpec = DEFAULT_SPEC,
) -> VolEvaluation:
    """Rolling OOS forecasts of every model and their scores (see the module docstring).

    measures: realized measures indexed by trading date (columns as for `treatments`; an
    `expiry_week` column is used if present, else computed from `underlying`; with neither,
    down-weighting acts on jump days only). returns: daily close-to-close log returns on the
    same dates (for GARCH). treatment / garch_kind: fix the choice instead of selecting it.
    """
    hs = sorted({int(h) for h in horizons})
    if select_on not in hs:
        raise ValueError(f"select_on={select_on} is not among horizons {hs}")
    if garch_level not in ("session", "raw"):
        raise ValueError(f"garch_level must be 'session' or 'raw', got {garch_level!r}")
    measures, r = _aligned_returns(measures, returns)
    rv = measures[RV_COLUMN].astype(float)
    notes: list[str] = []
    if EXPIRY_COLUMN not in measures:
        measures = measures.copy()
        if underlying is None:
            measures[EXPIRY_COLUMN] = False
            notes.append("no expiry calendar: downweight acts on jump days only")
        else:
            measures[EXPIRY_COLUMN] = expiry_flags_for(measures, underlying).to_numpy()
    jumps = bool(jump_day_flags(measures).any())
    flagged = jumps or bool(expiry_flags_for(measures, None).any())
    identifiable = {"none": True, "downweight": flagged, "cj": jumps}

    # (1) HAR under each treatment. An unidentifiable one is plain HAR by construction and is
    # reported as such; a failed alternative (e.g. an explosive first HAR-CJ fit) is left out
    # and noted, not fatal, since plain HAR is the reference.
    har: dict[str, pd.DataFrame] = {}
    status: dict[str, str] = {}
    for t in TREATMENTS:
        if not identifiable[t]:
            har[t], status[t] = har["none"], "equals none (no flagged days)"
            continue
        try:
            har[t] = rolling_har_forecasts(
                measures,
                t,
                window=har_window,
                refit_every=refit_every,
                horizons=hs,
                downweight=downweight,
                spec=spec,
            )
        except HARError as err:
            if t == "none":
                raise
            status[t] = f"failed: {err}"
            continue
        n_failed = har[t].attrs.get("failed_refits", 0)
        status[t] = (
            f"fitted ({n_failed} explosive refits kept old params)" if n_failed else "fitted"
        )
    notes.extend(f"treatment {t!r}: {v}" for t, v in status.items() if v != "fitted")

    # (2) the treatment, by OOS QLIKE at `select_on` among those actually fitted.
    if treatment is None:
        candidates = {t: har[t] for t in har if status[t].startswith("fitted")}
        treatment = _choose(candidates, rv, select_on)
    elif treatment not in har:
        raise ValueError(f"treatment {treatment!r} unavailable; have {sorted(har)} ({status})")
    naive = naive_forecasts(rv, hs)
    treatment_table = score_table({f"har_{t}": f for t, f in har.items()} | naive, rv)
    treatment_table["treatment"] = treatment_table["model"].str.removeprefix("har_")
    treatment_table["status"] = treatment_table["treatment"].map(status).fillna("baseline")
    treatment_table["chosen"] = treatment_table["treatment"] == treatment

    # (3) GARCH kinds on returns, level-matched to session RV unless garch_level == "raw".
    share = session_share(rv, r, garch_window) if garch_level == "session" else None
    garch_raw: dict[str, pd.DataFrame] = {}
    garch: dict[str, pd.DataFrame] = {}
    for kind in garch_kinds:
        garch_raw[kind] = rolling_garch_forecasts(
            r, kind, window=garch_window, refit_every=refit_every, horizons=hs
        )
        garch[kind] = garch_raw[kind] if share is None else garch_raw[kind].mul(share, axis=0)
    garch_kind = garch_kind or _choose(garch, rv, select_on)
    if garch_kind not in garch:
        raise ValueError(f"garch_kind {garch_kind!r} not among the fitted kinds {garch_kinds}")

    # (4) the ensemble of the two chosen members; (5) the naive baselines.
    members = {"har": har[treatment], "garch": garch[garch_kind]}
    ensemble, weights = ensemble_forecasts(members, rv, window=ensemble_window)

    # (6) everything on one common sample.
    forecasts: dict[str, pd.DataFrame] = {"ensemble": ensemble, **members}
    forecasts.update({f"har_{t}": f for t, f in har.items()})
    forecasts.update({f"garch_{k}": f for k, f in garch.items()})
    forecasts["garch_raw"] = garch_raw[garch_kind]
    forecasts.update(naive)
    return VolEvaluation(
        table=score_table(forecasts, rv),
        treatment_table=treatment_table,
        chosen_treatment=treatment,
        garch_kind=garch_kind,
        forecasts=forecasts,
        weights=weights,
        realized=rv,
        notes=tuple(notes),
    )
