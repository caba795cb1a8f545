"""One option-chain snapshot of one underlying, indexed for the thousands of look-ups that building
and scoring candidate structures needs.

`ChainView` reads a CHAIN_COLUMNS frame once and keeps plain dicts: (expiry, strike, kind) ->
(bid, ask, iv), expiry -> sorted strikes, expiry -> (forward, T). Every question after that is a
dict hit, not a DataFrame filter (a filter costs ~100 us; a candidate asks a dozen questions).

Conventions (the ones the rest of `risk.structures` relies on):
- a *usable* quote is two-sided: finite bid > 0 and ask >= bid. A zero bid is how feeds print
  "no buyer", so it is refused like a NaN rather than priced at a half-spread mid;
- `iv` is the source's implied vol when it reports a positive one, else the Black-76 vol implied
  from the mid on the parity forward (`market.iv.implied_volatility`), solved for the whole chain
  in one vectorised call when the view is built;
- the forward of an expiry is the put-call-parity forward of `market.surface.parity_forwards`
  (median over the near-the-money strikes). It embeds the index's dividend yield and the basis
  the market is actually pricing. Only when no strike of the expiry has both legs priced does it
  fall back to spot * exp(rT) (`forward_source == "spot_carry"`): that ignores dividends and so
  overstates the forward by roughly spot * q * T, but it is the only forward left;
- the chain has no futures, so a FUT leg gets a *synthetic* quote: mid = the parity forward (a
  future and a forward agree when rates are deterministic), with a half-spread of
  `futures_half_spread_bps` of the forward (default 0.25 bp, ~0.6 point on NIFTY, in line with the
  near-month future's usual one-tick-to-one-point market). For a weekly expiry no future is listed
  at all; the synthetic then stands for the conversion (long call + short put) it replicates.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd

from quantsentinel.market import contracts
from quantsentinel.market.calendar import year_fraction
from quantsentinel.market.iv import implied_volatility
from quantsentinel.market.schema import MARKET_TZ
from quantsentinel.market.surface import DEFAULT_RATE, option_price, parity_forwards
from quantsentinel.risk.errors import OrderError, RiskInputError
from quantsentinel.risk.orders import CALL, FUTURE, KINDS, PUT, SIDES, Leg, Quote

_REQUIRED = ("snapshot_id", "underlying", "ts", "spot", "expiry", "strike", "option_type")
_TICK = 0.05  # NSE derivatives tick, the floor of any synthetic half-spread
_PARITY_STRIKES = 5


class ChainError(RiskInputError):
    """The chain frame itself is unusable: empty, mixed snapshots or underlyings, bad columns."""


def as_expiry(value: date | datetime | pd.Timestamp | np.datetime64 | str) -> date:
    """An expiry as a calendar `date`, whatever spelling the caller used."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return pd.Timestamp(value).date()
    except (TypeError, ValueError) as exc:
        raise OrderError("bad_input", f"expiry {value!r} is not a date") from exc


class ChainView:
    """Look-ups over ONE snapshot of ONE underlying (CHAIN_COLUMNS frame).

    Raises `ChainError` when the frame is empty, lacks a column, mixes snapshots or underlyings,
    has a bad spot/ts, or lists a (expiry, strike, type) twice.
    """

    def __init__(
        self,
        chain: pd.DataFrame,
        rate: float = DEFAULT_RATE,
        *,
        futures_half_spread_bps: float = 0.25,
    ) -> None:
        _check_frame(chain)
        if not (isinstance(rate, int | float) and math.isfinite(rate)):
            raise ChainError("bad_input", f"rate must be a finite number, got {rate!r}")
        if not (math.isfinite(futures_half_spread_bps) and futures_half_spread_bps >= 0):
            raise ChainError(
                "bad_input", f"futures_half_spread_bps must be >= 0, got {futures_half_spread_bps}"
            )
        self.rate = float(rate)
        self.futures_half_spread_bps = float(futures_half_spread_bps)
        self.snapshot_id = str(chain["snapshot_id"].iloc[0])
        self._underlying = str(chain["underlying"].iloc[0])
        self._ts = pd.Timestamp(chain["ts"].iloc[0]).tz_convert("UTC")
        self._trade_date = self._ts.tz_convert(MARKET_TZ).date()
        self._spot = float(chain["spot"].iloc[0])
        self._lots: dict[date, int] = {}
        self._build(chain)

    # --- construction ---------------------------------------------------------------------------

    def _build(self, chain: pd.DataFrame) -> None:
        expiry_ts = pd.to_datetime(chain["expiry"])
        if getattr(expiry_ts.dt, "tz", None) is not None:
            expiry_ts = expiry_ts.dt.tz_localize(None)
        expiry_ts = expiry_ts.dt.normalize()
        expiry_dates = {e: e.date() for e in expiry_ts.unique()}
        expiries = [expiry_dates[e] for e in expiry_ts]
        strikes = chain["strike"].to_numpy(float)
        kinds = chain["option_type"].astype(str).str.upper().to_numpy()
        bid = _column(chain, "bid")
        ask = _column(chain, "ask")
        last = _column(chain, "last")
        source_iv = _column(chain, "iv")
        T_of = {d: float(year_fraction(self._ts, d)) for d in set(expiries)}
        T = np.array([T_of[d] for d in expiries])

        # Forwards first: the implied vols below are solved on them.
        price, price_source = option_price(pd.Series(bid), pd.Series(ask), pd.Series(last))
        legs = pd.DataFrame(
            {
                "snapshot_id": self.snapshot_id, "underlying": self._underlying,
                "ts": self._ts, "spot": self._spot, "expiry": expiry_ts.to_numpy(),
                "strike": strikes, "option_type": kinds, "price": price,
                "price_source": price_source, "T": T,
            }
        )  # fmt: skip
        fwd = parity_forwards(legs, self.rate, _PARITY_STRIKES)
        self._forward: dict[date, tuple[float, str]] = {
            pd.Timestamp(e).date(): (float(f), str(s))
            for e, f, s in zip(fwd["expiry"], fwd["forward"], fwd["forward_source"], strict=True)
        }
        self._T = T_of

        with np.errstate(invalid="ignore"):
            two_sided = np.isfinite(bid) & np.isfinite(ask) & (bid > 0) & (ask >= bid)
            have_iv = np.isfinite(source_iv) & (source_iv > 0)
        vol = np.where(have_iv, source_iv, np.nan)
        reason = np.full(len(vol), "no_quote", dtype=object)
        reason[have_iv] = None
        solve = two_sided & ~have_iv
        if solve.any():
            F = np.array([self._forward[d][0] for d in expiries])
            res = implied_volatility(
                0.5 * (bid[solve] + ask[solve]), F[solve], strikes[solve], T[solve],
                kinds[solve] == CALL, self.rate,
            )  # fmt: skip
            vol[solve] = res.iv
            reason[solve] = res.reason

        self._rows: dict[tuple[date, float, str], tuple[float, float, float, str | None]] = {}
        by_expiry: dict[date, set[float]] = {}
        for e, k, kind, b, a, v, why, ok in zip(
            expiries, strikes.tolist(), kinds, bid.tolist(), ask.tolist(), vol.tolist(),
            reason, two_sided, strict=True,
        ):  # fmt: skip
            key = (e, k, kind)
            if key in self._rows:
                raise ChainError(
                    "duplicate_quotes", f"{kind} {k:g} expiring {e} appears twice in the snapshot"
                )
            self._rows[key] = (b, a, v, why) if ok else (math.nan, math.nan, v, why)
            by_expiry.setdefault(e, set()).add(k)
        self._strikes = {e: tuple(sorted(ks)) for e, ks in by_expiry.items()}
        self._strike_arrays = {e: np.asarray(ks) for e, ks in self._strikes.items()}
        self._strike_sets = {e: frozenset(ks) for e, ks in by_expiry.items()}
        self._live = tuple(sorted(e for e in by_expiry if e >= self._trade_date))

    # --- snapshot facts -------------------------------------------------------------------------

    @property
    def underlying(self) -> str:
        return self._underlying

    @property
    def ts(self) -> pd.Timestamp:
        """Exchange time of the snapshot, UTC."""
        return self._ts

    @property
    def trade_date(self) -> date:
        """The snapshot's trading day in Asia/Kolkata (what lot sizes and expiry rules key on)."""
        return self._trade_date

    @property
    def spot(self) -> float:
        return self._spot

    def expiries(self) -> tuple[date, ...]:
        """Expiries in the snapshot that are still alive on its trade date, nearest first."""
        return self._live

    def _expiry(self, expiry: date | datetime | pd.Timestamp | str) -> date:
        e = as_expiry(expiry)
        if e not in self._strikes:
            raise OrderError(
                "unknown_expiry",
                f"{self._underlying} has no {e} expiry in snapshot {self.snapshot_id}; "
                f"listed: {', '.join(str(x) for x in self._live)}",
                expiry=e.isoformat(),
            )
        if e < self._trade_date:
            raise OrderError(
                "expired_contract",
                f"{self._underlying} {e} expired before the snapshot's {self._trade_date}",
                expiry=e.isoformat(),
            )
        return e

    def strikes(self, expiry: date) -> tuple[float, ...]:
        """Every strike the snapshot lists for `expiry` (either option type), ascending."""
        return self._strikes[self._expiry(expiry)]

    def has_strike(self, expiry: date, strike: float) -> bool:
        """Whether the snapshot lists `strike` for `expiry` (either option type)."""
        return float(strike) in self._strike_sets.get(as_expiry(expiry), ())

    def time_to_expiry(self, expiry: date) -> float:
        """ACT/365 years from the snapshot to 15:30 IST on `expiry` (0 once it has closed)."""
        return self._T[self._expiry(expiry)]

    def forward(self, expiry: date) -> float:
        """Put-call-parity forward of `expiry` (spot * exp(rT) when parity is impossible)."""
        return self._forward[self._expiry(expiry)][0]

    def forward_source(self, expiry: date) -> str:
        """'parity' or 'spot_carry' (the documented fallback)."""
        return self._forward[self._expiry(expiry)][1]

    def atm_strike(self, expiry: date) -> float:
        """The listed strike closest to the forward (the lower one on an exact tie)."""
        e = self._expiry(expiry)
        grid = self._strike_arrays[e]
        return float(grid[int(np.argmin(np.abs(grid - self._forward[e][0])))])

    def lot_size(self, expiry: date) -> int:
        """The exchange lot size of this underlying's `expiry` contract on the trade date."""
        e = self._expiry(expiry)
        if e not in self._lots:
            try:
                self._lots[e] = contracts.lot_size(self._underlying, self._trade_date, e)
            except ValueError as exc:
                raise OrderError("bad_input", str(exc), expiry=e.isoformat()) from exc
        return self._lots[e]

    # --- quotes ---------------------------------------------------------------------------------

    def _row(self, expiry: date, strike: float, kind: str) -> tuple[date, tuple]:
        e = self._expiry(expiry)
        if kind not in (CALL, PUT):
            raise OrderError("bad_input", f"option type {kind!r} is not CE or PE")
        row = self._rows.get((e, float(strike), kind))
        if row is None:
            raise OrderError(
                "missing_quote",
                f"no {kind} {float(strike):g} expiring {e} in snapshot {self.snapshot_id}",
                expiry=e.isoformat(),
                strike=float(strike),
                kind=kind,
            )
        return e, row

    def quote(self, expiry: date, strike: float | None, kind: str) -> Quote:
        """The two-sided quote of one contract, with its iv when known.

        A FUT gets the synthetic quote described in the module docstring (`strike` ignored).
        Raises OrderError('missing_quote') when the option row is absent or one-sided/NaN.
        """
        if kind == FUTURE:
            e = self._expiry(expiry)
            forward = self._forward[e][0]
            half = max(_TICK, forward * self.futures_half_spread_bps * 1e-4)
            return Quote(bid=forward - half, ask=forward + half, iv=None)
        if strike is None:
            raise OrderError("bad_input", f"a {kind} option needs a strike")
        e, (bid, ask, vol, _) = self._row(expiry, strike, kind)
        if not (math.isfinite(bid) and math.isfinite(ask)):
            raise OrderError(
                "missing_quote",
                f"{kind} {float(strike):g} expiring {e} has no two-sided quote",
                expiry=e.isoformat(),
                strike=float(strike),
                kind=kind,
            )
        return Quote(bid=bid, ask=ask, iv=vol if math.isfinite(vol) else None)

    def iv(self, expiry: date, strike: float, kind: str) -> float:
        """Implied vol (decimal): the source's, else implied from the mid on the parity forward.

        Raises OrderError('missing_quote') when there is neither, and 'no_implied_vol' (with the
        solver's reason) when the mid admits no vol (e.g. below intrinsic).
        """
        e, (bid, ask, vol, why) = self._row(expiry, strike, kind)
        if math.isfinite(vol):
            return vol
        if not (math.isfinite(bid) and math.isfinite(ask)):
            raise OrderError(
                "missing_quote",
                f"{kind} {float(strike):g} expiring {e}: no source iv and no two-sided quote",
                expiry=e.isoformat(),
                strike=float(strike),
            )
        raise OrderError(
            "no_implied_vol",
            f"{kind} {float(strike):g} expiring {e}: the mid admits no implied vol ({why})",
            expiry=e.isoformat(),
            strike=float(strike),
            reason=why,
        )

    def leg(self, kind: str, expiry: date, strike: float | None, side: str, lots: int) -> Leg:
        """A `Leg` at this snapshot's quote, in whole lots of the exchange lot size."""
        if kind not in KINDS:
            raise OrderError("bad_input", f"kind {kind!r} is not one of {KINDS}")
        if side not in SIDES:
            raise OrderError("bad_input", f"side {side!r} is not BUY or SELL")
        if not isinstance(lots, int | np.integer) or isinstance(lots, bool) or lots <= 0:
            raise OrderError(
                "zero_lots", f"lots must be a positive whole number, got {lots!r}", lots=lots
            )
        e = self._expiry(expiry)
        if kind == FUTURE:
            if strike is not None:
                raise OrderError("bad_input", "a future has no strike")
            key_strike = None
        else:
            if strike is None:
                raise OrderError("bad_input", f"a {kind} option needs a strike")
            key_strike = float(strike)
        return Leg(
            underlying=self._underlying,
            kind=kind,
            expiry=e,
            strike=key_strike,
            side=side,
            lots=int(lots),
            lot_size=self.lot_size(e),
            quote=self.quote(e, key_strike, kind),
        )


def _column(chain: pd.DataFrame, name: str) -> np.ndarray:
    if name not in chain.columns:
        return np.full(len(chain), np.nan)
    return pd.to_numeric(chain[name], errors="coerce").to_numpy(float)


def _check_frame(chain: pd.DataFrame) -> None:
    if not isinstance(chain, pd.DataFrame):
        raise ChainError("bad_input", f"chain must be a DataFrame, got {type(chain).__name__}")
    missing = [c for c in _REQUIRED if c not in chain.columns]
    if missing:
        raise ChainError("bad_chain", f"chain frame lacks column(s) {', '.join(missing)}")
    if chain.empty:
        raise ChainError("empty_chain", "the chain snapshot has no rows")
    for column, code in (("underlying", "mixed_underlyings"), ("snapshot_id", "mixed_snapshots")):
        values = chain[column].unique()
        if len(values) != 1:
            shown = ", ".join(map(str, values[:5]))
            raise ChainError(
                code,
                f"a ChainView holds one snapshot of one underlying; got {len(values)} "
                f"{column} values ({shown})",
            )
    ts = pd.to_datetime(chain["ts"])
    if ts.dt.tz is None:
        raise ChainError("bad_chain", "chain ts must be timezone-aware")
    if ts.nunique() != 1:
        raise ChainError("mixed_snapshots", f"one snapshot has {ts.nunique()} distinct ts values")
    spot = pd.to_numeric(chain["spot"], errors="coerce").to_numpy(float)
    if not (np.isfinite(spot).all() and (spot > 0).all() and np.ptp(spot) == 0):
        raise ChainError("bad_chain", "spot must be one positive finite value per snapshot")
    kinds = set(chain["option_type"].astype(str).str.upper())
    if not kinds <= {CALL, PUT}:
        raise ChainError(
            "bad_chain", f"option_type must be CE or PE, got {sorted(kinds - {CALL, PUT})}"
        )
    strikes = pd.to_numeric(chain["strike"], errors="coerce").to_numpy(float)
    if not (np.isfinite(strikes).all() and (strikes > 0).all()):
        raise ChainError("bad_chain", "every strike must be a positive finite number")
