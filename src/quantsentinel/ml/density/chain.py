"""Implied densities for every (snapshot, expiry) of a chain frame, each published or refused.

Why a batch layer: `implied_density` answers for one expiry given its forward and T; a chain
asset publishes many snapshots and expiries as CHAIN_COLUMNS rows, and the forward, T and the
cross-expiry (calendar) check all come from the frame. Per (snapshot_id, expiry):

1. Prices exactly as `market.surface` takes them (`option_price`: two-sided mid, else last) and
   the forward from put-call parity by the surface's own `parity_forwards` (median of
   K + e^{rT}(C - P) over the strikes nearest the money), so the density's forward is the one
   the IV surface shows. A slice where no strike has both legs priced gets "no_forward": the
   surface's spot-carry fallback ignores the dividend yield, and the density's mean *is* the
   forward, so a guessed forward would publish a guessed density.
2. T = calendar.year_fraction(ts, expiry), ACT/365 to the expiry's close; T <= 0 is "expired".
3. Row sanity before any maths ("bad_input"): strikes finite and positive, sides CE/PE, no
   negative quote, no crossed book, one row per (strike, side). Validation rejects such
   snapshots too; here the expiry is refused instead of guessing which duplicate is right.
4. `implied_density` (Breeden & Litzenberger 1978) on the out-of-the-money leg's mid and
   bid/ask; its own refusals (too_few_strikes, non_convex_chain, negative_density, ...) are
   carried as the reason.
5. Calendar arbitrage across the surviving expiries of each snapshot (`calendar_arbitrage`,
   Gatheral 2006): expiries contradicted beyond their half-spreads get "calendar_arbitrage".

Nothing here raises for a bad expiry; only a frame without the needed columns is a caller bug
(ValueError naming them). Pure pandas/numpy: no dagster, so assets and notebooks share it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from quantsentinel.market.calendar import year_fraction
from quantsentinel.market.schema import CALL, PUT
from quantsentinel.market.surface import option_price, parity_forwards
from quantsentinel.ml.density.breeden_litzenberger import (
    DensityError,
    DensityReason,
    ImpliedDensity,
    implied_density,
)
from quantsentinel.ml.density.calendar_arbitrage import (
    NormalisedCalls,
    calendar_conflicts,
    normalised_calls,
)

# The CHAIN_COLUMNS this module reads (volume, OI, iv, source and received_at are not needed).
REQUIRED_COLUMNS = (
    "snapshot_id", "underlying", "ts", "spot", "expiry", "strike", "option_type", "bid", "ask",
    "last",
)  # fmt: skip
# iv_surface's default, so the surface and the densities vote on the same forward.
PARITY_STRIKES = 5
# Grid strikes per expiry: fine enough that the second difference's truncation error is far
# below the quote noise, coarse enough that a day of snapshots stays a small table.
DEFAULT_GRID_POINTS = 400
SUMMARY_COLUMNS = (
    "snapshot_id", "ts", "underlying", "expiry", "T", "forward", "n_strikes", "published",
    "reason", "detail", "mean", "variance", "skewness", "kurtosis", "crash_probability",
    "implied_move", "mass_before_normalisation", "calendar_ok",
)  # fmt: skip
GRID_COLUMNS = ("snapshot_id", "expiry", "strike", "density", "cdf")
_GRID_DTYPES = {
    "snapshot_id": "string", "expiry": "datetime64[ns]", "strike": float, "density": float,
    "cdf": float,
}  # fmt: skip
_SUMMARY_DTYPES = {
    "snapshot_id": "string", "ts": "datetime64[ns, UTC]", "underlying": "string",
    "expiry": "datetime64[ns]", "T": float, "forward": float, "n_strikes": "int64",
    "published": bool, "reason": object, "detail": object, "calendar_ok": "boolean",
}  # fmt: skip
_SLICE = ["snapshot_id", "expiry"]
_NUMERIC = (
    "mean", "variance", "skewness", "kurtosis", "crash_probability", "implied_move",
    "mass_before_normalisation",
)  # fmt: skip

Key = tuple[str, pd.Timestamp]


@dataclass(frozen=True)
class DensityBatch:
    """Densities of a chain frame.

    summary: one row per (snapshot_id, expiry) examined (SUMMARY_COLUMNS); `reason` is None
        and `published` True for a published density, else a `DensityReason` string with the
        numbers in `detail`. Moments are of the density truncated at its 1st/99th percentiles
        (kurtosis Pearson, normal = 3); `crash_probability` = P(S_T <= F (1 + crash_move));
        `implied_move` = E|S_T - F| / F; `calendar_ok` is <NA> where the expiry never reached
        the calendar check.
    grid: long table (GRID_COLUMNS) of density and CDF on each published expiry's strike grid.
    densities: the published `ImpliedDensity` objects by (snapshot_id, expiry).
    """

    summary: pd.DataFrame
    grid: pd.DataFrame
    densities: dict[Key, ImpliedDensity]

    @property
    def published(self) -> pd.DataFrame:
        """Summary rows of the published expiries."""
        return self.summary[self.summary["published"].to_numpy(dtype=bool)]


@dataclass
class _Slice:
    key: Key
    row: dict[str, object]
    reason: str | None = None
    detail: str = ""
    density: ImpliedDensity | None = None
    calls: NormalisedCalls | None = None


def _select(chain: pd.DataFrame, snapshots: str) -> pd.DataFrame:
    """All rows, or those of each underlying's latest snapshot (by ts; NaT never wins)."""
    if snapshots == "all":
        return chain
    snaps = chain[["snapshot_id", "underlying", "ts"]].drop_duplicates("snapshot_id")
    snaps = snaps.sort_values(["ts", "snapshot_id"], na_position="first")
    latest = snaps.groupby("underlying", dropna=False, sort=False).tail(1)["snapshot_id"]
    return chain[chain["snapshot_id"].isin(latest)]


def _years(ts: pd.Series, expiry: pd.Series) -> np.ndarray:
    """year_fraction per row; per distinct pair (NaN where refused) if the calendar refuses."""
    try:
        return np.asarray(year_fraction(ts, expiry), dtype=float)
    except ValueError:
        out = np.full(len(ts), np.nan)
        pairs = pd.DataFrame({"ts": ts.to_numpy(), "expiry": expiry.to_numpy()})
        for (t, e), rows in pairs.groupby(["ts", "expiry"], sort=False).indices.items():
            with contextlib.suppress(ValueError, TypeError):
                out[rows] = year_fraction(pd.Timestamp(t), pd.Timestamp(e).date())
        return out


def _sanity(g: pd.DataFrame) -> str | None:
    """Why a slice's rows are not a chain at all, or None."""
    K = g["strike"].to_numpy(dtype=float, na_value=np.nan)
    side = g["option_type"].to_numpy(dtype=object, na_value=None)
    bid, ask, last = (g[c].to_numpy(dtype=float, na_value=np.nan) for c in ("bid", "ask", "last"))
    if not np.all(np.isfinite(K) & (K > 0)):
        return "strike not finite and positive"
    bad_side = ~np.isin(side, [CALL, PUT])
    if bad_side.any():
        return f"option_type {side[bad_side][0]!r} is not CE/PE"
    with np.errstate(invalid="ignore"):
        negative = (bid < 0) | (ask < 0) | (last < 0)
        crossed = bid > ask
    if negative.any():
        return f"negative quote at strike {K[negative][0]:g}"
    if crossed.any():
        i = int(np.flatnonzero(crossed)[0])
        return f"crossed quote at strike {K[i]:g} {side[i]}: bid {bid[i]:g} > ask {ask[i]:g}"
    dup = pd.DataFrame({"K": K, "side": side}).duplicated()
    if dup.any():
        return f"duplicate rows for strike {K[dup.to_numpy()][0]:g} {side[dup.to_numpy()][0]}"
    return None


def _legs_by_strike(g: pd.DataFrame, forward: float) -> dict[str, np.ndarray]:
    """Per distinct strike: call/put price and the out-of-the-money leg's bid/ask."""
    K = g["strike"].to_numpy(dtype=float)
    is_call = (g["option_type"] == CALL).to_numpy(dtype=bool)
    strikes = np.unique(K)
    pos = np.searchsorted(strikes, K)
    out = {"strikes": strikes}
    for name, col in (("price", "price"), ("bid", "bid"), ("ask", "ask")):
        values = g[col].to_numpy(dtype=float, na_value=np.nan)
        for side, mask in (("call", is_call), ("put", ~is_call)):
            arr = np.full(strikes.size, np.nan)
            arr[pos[mask]] = values[mask]
            out[f"{side}_{name}"] = arr
    otm_call = strikes >= forward
    out["otm_bid"] = np.where(otm_call, out["call_bid"], out["put_bid"])
    out["otm_ask"] = np.where(otm_call, out["call_ask"], out["put_ask"])
    return out


def _examine(s: _Slice, g: pd.DataFrame, rate: float, grid_points: int) -> None:
    """Steps 2-4 of the module docstring for one slice; sets reason/detail or density."""
    T, forward = float(s.row["T"]), float(s.row["forward"])
    expiry = s.key[1]
    if not np.isfinite(T):
        s.reason, s.detail = DensityReason.BAD_INPUT, "no year fraction for this ts/expiry"
        return
    if T <= 0:
        s.reason = DensityReason.EXPIRED
        s.detail = f"expiry {pd.Timestamp(expiry).date()} closed before {s.row['ts']} (T=0)"
        return
    problem = _sanity(g)
    if problem is not None:
        s.reason, s.detail = DensityReason.BAD_INPUT, problem
        return
    if s.row["forward_source"] != "parity" or not np.isfinite(forward):
        s.reason = DensityReason.NO_FORWARD
        s.detail = "no strike has both legs priced: no put-call-parity forward"
        return
    legs = _legs_by_strike(g, forward)
    try:
        s.density = implied_density(
            legs["strikes"],
            legs["call_price"],
            legs["put_price"],
            forward=forward,
            T=T,
            rate=rate,
            bid=legs["otm_bid"],
            ask=legs["otm_ask"],
            grid_points=grid_points,
        )
    except DensityError as exc:
        s.reason, s.detail = exc.reason, str(exc).removeprefix(f"{exc.reason}: ")
        return
    s.calls = normalised_calls(
        pd.Timestamp(expiry),
        legs["strikes"],
        legs["call_price"],
        legs["put_price"],
        legs["otm_bid"],
        legs["otm_ask"],
        forward=forward,
        T=T,
        rate=rate,
    )


def _calendar(slices: list[_Slice]) -> None:
    """Step 5: drop calendar-contradicted expiries within each snapshot."""
    by_snapshot: dict[str, list[_Slice]] = {}
    for s in slices:
        if s.calls is not None:
            by_snapshot.setdefault(s.key[0], []).append(s)
    for group in by_snapshot.values():
        dropped = calendar_conflicts([s.calls for s in group if s.calls is not None])
        for s in group:
            s.row["calendar_ok"] = s.key[1] not in dropped
            if s.key[1] in dropped:
                s.reason, s.detail = DensityReason.CALENDAR_ARBITRAGE, dropped[s.key[1]]
                s.density = None


def _summary_row(s: _Slice, crash_move: float) -> dict[str, object]:
    row = {**s.row, "published": s.density is not None, "reason": s.reason, "detail": s.detail}
    row.update(dict.fromkeys(_NUMERIC, np.nan))
    if s.density is not None:
        row.update(s.density.moments())
        row["crash_probability"] = s.density.crash_probability(crash_move)
        row["implied_move"] = s.density.implied_move()
        row["mass_before_normalisation"] = s.density.mass_before_normalisation
    return row


def chain_densities(
    chain: pd.DataFrame,
    *,
    rate: float,
    crash_move: float = -0.05,
    grid_points: int = DEFAULT_GRID_POINTS,
    snapshots: Literal["last", "all"] = "last",
) -> DensityBatch:
    """Breeden-Litzenberger densities per (snapshot_id, expiry) of CHAIN_COLUMNS rows.

    Args:
        chain: chain rows (one or many snapshots and expiries), at least REQUIRED_COLUMNS.
        rate: continuously compounded rate for discounting and parity (as `iv_surface`).
        crash_move: the move from the forward whose left-tail mass is `crash_probability`.
        grid_points: strikes in each density's uniform grid.
        snapshots: "last" = each underlying's latest snapshot (what a live view shows), or
            "all" = every snapshot in the frame (history, backfills).

    Returns a `DensityBatch`; see its docstring. Raises ValueError only for missing columns
    (named) or an unknown `snapshots` value.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in chain.columns]
    if missing:
        raise ValueError(f"chain is missing required columns: {', '.join(missing)}")
    if snapshots not in ("last", "all"):
        raise ValueError(f"snapshots must be 'last' or 'all', not {snapshots!r}")
    frame = _select(chain, snapshots)
    legs = frame[list(REQUIRED_COLUMNS)].reset_index(drop=True)
    legs["option_type"] = legs["option_type"].astype("string").str.upper()
    legs["price"], legs["price_source"] = option_price(legs["bid"], legs["ask"], legs["last"])
    legs["T"] = _years(legs["ts"], legs["expiry"])
    forwards = parity_forwards(legs, rate, PARITY_STRIKES).set_index(_SLICE)

    slices: list[_Slice] = []
    for key, g in legs.groupby(_SLICE, sort=True, dropna=False):
        sid, expiry = str(key[0]), pd.Timestamp(key[1])
        fwd = forwards.loc[key] if key in forwards.index else None
        row = {
            "snapshot_id": sid,
            "ts": g["ts"].iloc[0],
            "underlying": g["underlying"].iloc[0],
            "expiry": expiry,
            "T": float(g["T"].iloc[0]),
            "forward": float(fwd["forward"]) if fwd is not None else np.nan,
            "forward_source": fwd["forward_source"] if fwd is not None else None,
            "n_strikes": int(g["strike"].nunique()),
            "calendar_ok": pd.NA,
        }
        s = _Slice((sid, expiry), row)
        _examine(s, g, rate, grid_points)
        slices.append(s)
    _calendar(slices)

    rows = [_summary_row(s, crash_move) for s in slices]
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    # A tz-naive ts (off-schema) has no year fraction (bad_input); shown as UTC, not a crash.
    summary["ts"] = pd.to_datetime(summary["ts"], utc=True)
    summary = summary.astype({**_SUMMARY_DTYPES, **dict.fromkeys(_NUMERIC, float)})
    summary = summary.sort_values(["ts", "snapshot_id", "expiry"], kind="stable")
    densities = {s.key: s.density for s in slices if s.density is not None}
    parts = [
        pd.DataFrame(
            {
                "snapshot_id": key[0],
                "expiry": key[1],
                "strike": d.strikes,
                "density": d.density,
                "cdf": d.cdf(d.strikes),
            }
        )
        for key, d in densities.items()
    ]
    grid = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=GRID_COLUMNS)
    grid = grid.astype(_GRID_DTYPES)
    return DensityBatch(summary.reset_index(drop=True), grid, densities)
