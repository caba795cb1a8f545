"""The served volatility forecaster: frozen HAR + GARCH fits per underlying, combined daily.

A registered `VolForecaster` is plain JSON (the registry's "json" framework): per underlying, the
HAR coefficients with the jump treatment they were fitted under, and the GARCH kind and
parameters. Nothing is re-estimated when it serves; what moves every day is

- the members' forecasts, from the latest realized measures and returns;
- the ensemble weights, recomputed from each member's QLIKE record over the last
  `ensemble_window` scorable origins (see `ensemble`), so a member that has started to fail loses
  weight within days, between the weekly retrains.

The record is built with the champion's frozen parameters; origins inside its own training window
are therefore in-sample for both members alike, which leaves their loss *difference* (all the
weights depend on) comparable. From the first retrain-cadence onwards the record is fully
out-of-sample.

Without a champion (or for an underlying the champion was not trained on) the documented
baseline answers: the rolling mean of the last `BASELINE_WINDOW` days of realized variance for
every horizon (the "rolling_mean" naive of `losses`, which the champion must beat to be promoted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantsentinel.ml.vol.ensemble import DEFAULT_FLOOR, DEFAULT_LAMBDA, ensemble_forecasts
from quantsentinel.ml.vol.evaluation import session_share
from quantsentinel.ml.vol.garch import MIN_OBS as GARCH_MIN_OBS
from quantsentinel.ml.vol.garch import GarchError, filtered_forecasts
from quantsentinel.ml.vol.har import RV_COLUMN, HARError, HARFit, HARSpec
from quantsentinel.ml.vol.losses import DEFAULT_HORIZONS
from quantsentinel.ml.vol.realized import TRADING_DAYS_PER_YEAR
from quantsentinel.ml.vol.treatments import treated_history

BASELINE_WINDOW = 22
RETURN_COLUMN = "daily_return"
FORECASTER_KIND = "har_garch_ensemble"
FORMAT_VERSION = 1


class ForecastError(ValueError):
    """No forecast can be published; `reason` is machine-readable (too_short, nan_gaps, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class UnderlyingFit:
    """The frozen fits of one underlying."""

    har: HARFit
    treatment: str
    downweight: float
    garch_kind: str
    garch_dist: str
    garch_params: pd.Series

    def to_json(self) -> dict[str, Any]:
        spec = self.har.spec
        return {
            "har": {
                "spec": {"lags": list(spec.lags), "form": spec.form, "hac_lags": spec.hac_lags,
                         "jumps": spec.jumps},
                "params": _floats(self.har.params), "bse": _floats(self.har.bse),
                "tvalues": _floats(self.har.tvalues), "rsquared": self.har.rsquared,
                "nobs": self.har.nobs, "sigma2": self.har.sigma2,
            },
            "treatment": self.treatment,
            "downweight": self.downweight,
            # arch fixes parameters by position and the registry stores JSON with sorted keys,
            # so the order is kept explicitly.
            "garch": {"kind": self.garch_kind, "dist": self.garch_dist,
                      "param_names": [str(k) for k in self.garch_params.index],
                      "params": _floats(self.garch_params)},
        }  # fmt: skip

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> UnderlyingFit:
        h = d["har"]
        s = h["spec"]
        spec = HARSpec(lags=tuple(s["lags"]), form=s["form"], hac_lags=s["hac_lags"],
                       jumps=s["jumps"])  # fmt: skip
        har = HARFit(
            params=pd.Series(h["params"], name="params"), bse=pd.Series(h["bse"], name="bse"),
            tvalues=pd.Series(h["tvalues"], name="tvalues"), rsquared=h["rsquared"],
            nobs=h["nobs"], spec=spec, sigma2=h["sigma2"],
        )  # fmt: skip
        g = d["garch"]
        params = pd.Series({name: g["params"][name] for name in g["param_names"]}, dtype=float)
        return cls(har, d["treatment"], d["downweight"], g["kind"], g["dist"], params)


def _floats(series: pd.Series) -> dict[str, float]:
    return {str(k): float(v) for k, v in series.items()}


@dataclass(frozen=True)
class VolForecast:
    """One day's forecast for one underlying.

    `table` has one row per horizon: `variance` (average daily variance over the next h days,
    decimal^2), `vol_annualised`, and where the champion answered, each member's variance and
    weight. `source` is "champion" or "baseline"; `fallback_reason` says why the baseline
    answered (None when the champion did).
    """

    underlying: str
    origin: Any
    source: str
    table: pd.DataFrame
    fallback_reason: str | None = None
    model_version: str | None = None  # the registry version that answered, if any


@dataclass(frozen=True)
class VolForecaster:
    fits: Mapping[str, UnderlyingFit]
    horizons: tuple[int, ...] = DEFAULT_HORIZONS
    ensemble_window: int = 60
    ensemble_lambda: float = DEFAULT_LAMBDA
    ensemble_floor: float = DEFAULT_FLOOR
    # GARCH forecasts close-to-close variance; it is put on the session-RV scale by the trailing
    # sum(RV) / sum(r^2) over this many days, exactly as in `evaluation` (see its docstring).
    garch_level_window: int = 250
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": FORECASTER_KIND,
            "format": FORMAT_VERSION,
            "horizons": list(self.horizons),
            "ensemble": {"window": self.ensemble_window, "lambda": self.ensemble_lambda,
                         "floor": self.ensemble_floor},
            "garch_level_window": self.garch_level_window,
            "fits": {u: fit.to_json() for u, fit in sorted(self.fits.items())},
            "meta": dict(self.meta),
        }  # fmt: skip

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> VolForecaster:
        if d.get("kind") != FORECASTER_KIND or d.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"not a {FORECASTER_KIND} v{FORMAT_VERSION} artifact: "
                f"kind={d.get('kind')!r} format={d.get('format')!r}"
            )
        e = d["ensemble"]
        return cls(
            fits={u: UnderlyingFit.from_json(f) for u, f in d["fits"].items()},
            horizons=tuple(d["horizons"]), ensemble_window=e["window"],
            ensemble_lambda=e["lambda"], ensemble_floor=e["floor"],
            garch_level_window=d["garch_level_window"], meta=d.get("meta", {}),
        )  # fmt: skip

    @property
    def history_days(self) -> int:
        """Days of history `forecast` wants: the member record (window + longest horizon) on
        top of the longest HAR lag, and at least a GARCH warm-up year."""
        lag = max((f.har.spec.max_lag for f in self.fits.values()), default=22)
        record = self.ensemble_window + max(self.horizons) + 1
        return max(GARCH_MIN_OBS, lag + record, self.garch_level_window + record)

    def member_forecasts(
        self, underlying: str, history: pd.DataFrame, last: int
    ) -> dict[str, pd.DataFrame]:
        """HAR and GARCH forecast frames for the last `last` origins of `history`."""
        fit = self.fits[underlying]
        treated = treated_history(history, fit.treatment)
        lag = fit.har.spec.max_lag
        origins = history.index[-last:]
        rows = []
        for i in range(len(history) - last, len(history)):
            fc = fit.har.forecast(treated.iloc[max(0, i + 1 - lag) : i + 1], self.horizons)
            rows.append(fc["rv_forecast"].to_numpy())
        har = pd.DataFrame(np.array(rows), index=origins, columns=list(self.horizons))
        returns = history[RETURN_COLUMN]
        garch = filtered_forecasts(
            returns, fit.garch_kind, fit.garch_params, dist=fit.garch_dist,
            horizons=self.horizons, last=last,
        )  # fmt: skip
        share = session_share(history[RV_COLUMN], returns, self.garch_level_window)
        return {"har": har, "garch": garch.mul(share.iloc[-last:], axis=0)}

    def forecast_frame(
        self, underlying: str, history: pd.DataFrame, last: int = 1
    ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
        """(ensemble, weights, members) for the last `last` origins of `history`.

        history: realized measures indexed by trading day, ascending, with `realized_variance`,
        `bipower_variation`, `jump_detected` and `daily_return`; it must reach `history_days`
        complete days before the first of the `last` origins. Raises ForecastError (reason
        named) when it cannot support a forecast; callers then fall back to the baseline.
        """
        if underlying not in self.fits:
            raise ForecastError(
                "underlying_not_fitted",
                f"the forecaster was trained on {sorted(self.fits)}, not {underlying}",
            )
        record = self.ensemble_window + max(self.horizons)
        need = self.history_days + last - 1
        # Only the last `need` days are used, and every one of them must be complete: GARCH's
        # filter would splice across a gap, and HAR would shift every later average by a day.
        history = history.iloc[-need:]
        _check_history(history, need)
        try:
            members = self.member_forecasts(underlying, history, record + last)
        except (HARError, GarchError) as exc:
            raise ForecastError(exc.reason, str(exc)) from exc
        realized = history[RV_COLUMN].iloc[-(record + last) :]
        combined, weights = ensemble_forecasts(
            members, realized, self.ensemble_window, lam=self.ensemble_lambda,
            floor=self.ensemble_floor,
        )  # fmt: skip
        tail = combined.iloc[-last:]
        if not np.all(np.isfinite(tail.to_numpy(dtype=float))):
            raise ForecastError("nan_gaps", "the ensemble forecast is not finite")
        return tail, weights.iloc[-last:], {k: v.iloc[-last:] for k, v in members.items()}

    def forecast(self, underlying: str, history: pd.DataFrame) -> VolForecast:
        """Today's forecast (origin = the last row of `history`) from the frozen fits."""
        combined, weights, members = self.forecast_frame(underlying, history, last=1)
        table = pd.DataFrame(
            {
                "variance": combined.iloc[-1].to_numpy(dtype=float),
                "har_variance": members["har"].iloc[-1].to_numpy(dtype=float),
                "garch_variance": members["garch"].iloc[-1].to_numpy(dtype=float),
                "weight_har": [float(weights[(h, "har")].iloc[-1]) for h in self.horizons],
                "weight_garch": [float(weights[(h, "garch")].iloc[-1]) for h in self.horizons],
            },
            index=pd.Index(list(self.horizons), name="horizon"),
        )
        table.insert(1, "vol_annualised", np.sqrt(table["variance"] * TRADING_DAYS_PER_YEAR))
        return VolForecast(underlying, history.index[-1], "champion", table)


def baseline_forecast(
    underlying: str,
    history: pd.DataFrame,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    *,
    reason: str,
) -> VolForecast:
    """The documented fallback: mean RV of the last BASELINE_WINDOW days, for every horizon.

    Raises ForecastError when even that cannot be computed (fewer days, or gaps in them):
    then nothing is published, rather than a mean of whatever happens to be there.
    """
    _check_history(history, BASELINE_WINDOW, columns=(RV_COLUMN,))
    rv = history[RV_COLUMN].to_numpy(dtype=float)[-BASELINE_WINDOW:]
    if np.ptp(rv) == 0:
        raise ForecastError("constant_series", f"the last {BASELINE_WINDOW} RV values are equal")
    mean = float(rv.mean())
    table = pd.DataFrame(
        {"variance": mean, "vol_annualised": np.sqrt(mean * TRADING_DAYS_PER_YEAR)},
        index=pd.Index(list(horizons), name="horizon"),
    )
    return VolForecast(underlying, history.index[-1], "baseline", table, fallback_reason=reason)


def _check_history(
    history: pd.DataFrame,
    need: int,
    columns: Sequence[str] = (RV_COLUMN, "bipower_variation", "jump_detected", RETURN_COLUMN),
) -> None:
    missing = [c for c in columns if c not in history]
    if missing:
        raise ForecastError("missing_input", f"history lacks columns {missing}")
    if not history.index.is_monotonic_increasing or history.index.has_duplicates:
        raise ForecastError("bad_input", "history must be indexed by unique ascending days")
    if len(history) < need:
        raise ForecastError("too_short", f"{len(history)} days of history; need {need}")
    tail = history[list(columns)].iloc[-need:]
    numeric = tail.drop(columns=["jump_detected"], errors="ignore").to_numpy(dtype=float)
    bad = ~np.isfinite(numeric).all(axis=1)
    if bad.any():
        days = [str(d) for d in tail.index[bad][:5]]
        raise ForecastError("nan_gaps", f"{int(bad.sum())} days with missing measures: {days}")
