"""The tabular rules, declared once and evaluated by either engine.

Each rule is a small declaration (`RowRule`) that the Great Expectations suite and the pandas
fast path both read, so the two engines cannot drift apart: they differ only in who computes the
mask of offending rows. Both hand back `RowFlag`s (rule + positional rows), and one function turns
flags into `Violation`s, so the two paths produce identical verdicts *and* identical details.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quantsentinel.market.schema import (
    CHAIN_COLUMNS,
    MARKET_TZ,
    OPTION_SIDES,
    Column,
    snapshot_id,
)
from quantsentinel.market.validation.types import UNKNOWN_SNAPSHOT, Reason, Violation

CONTRACT_KEY = ("snapshot_id", "expiry", "strike", "option_type")
# Required columns that can hold a null at all: an int64 column cannot (the dtype check already
# guarantees it), so a not-null rule there would only cost time.
REQUIRED_COLUMNS = tuple(
    c.name for c in CHAIN_COLUMNS if not c.nullable and not c.dtype.startswith("int")
)
MAX_EXAMPLES = 3  # rows quoted in a detail string; the count carries the rest


@dataclass(frozen=True)
class RowRule:
    """One row-level rule.

    kind is one of: "not_null", "in_set" (values), "pair_ge" (columns[0] >= columns[1] where both
    are present), "between" (low/high, strict_low), "unique" (compound key over columns).
    Nulls are ignored by every kind except not_null, as Great Expectations does, because
    missing values have their own rule.
    """

    key: str
    reason: str
    label: str
    kind: str
    columns: tuple[str, ...]
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    strict_low: bool = False


@dataclass(frozen=True)
class RowFlag:
    """The rows (positions in the validated frame) that broke one rule."""

    rule: RowRule
    positions: np.ndarray


def row_rules(iv_bounds: tuple[float, float]) -> tuple[RowRule, ...]:
    """Every tabular row rule for the given IV bounds (the only configurable threshold)."""
    lo, hi = iv_bounds
    rules = [
        RowRule(f"not_null:{c}", Reason.NULL_REQUIRED, f"{c} is null", "not_null", (c,))
        for c in REQUIRED_COLUMNS
    ]
    rules += [
        RowRule(
            "option_type_in_set",
            Reason.BAD_OPTION_TYPE,
            f"option_type not in {list(OPTION_SIDES)}",
            "in_set",
            ("option_type",),
            values=OPTION_SIDES,
        ),
        RowRule("ask_ge_bid", Reason.CROSSED_QUOTE, "bid > ask", "pair_ge", ("ask", "bid")),
        RowRule(
            "strike_positive",
            Reason.NON_POSITIVE_STRIKE,
            "strike <= 0",
            "between",
            ("strike",),
            low=0.0,
            strict_low=True,
        ),
        RowRule(
            "spot_positive",
            Reason.NEGATIVE_PRICE,
            "spot <= 0",
            "between",
            ("spot",),
            low=0.0,
            strict_low=True,
        ),
        RowRule(
            "iv_in_bounds",
            Reason.IV_OUT_OF_BOUNDS,
            f"iv outside [{lo:g}, {hi:g}]",
            "between",
            ("iv",),
            low=lo,
            high=hi,
        ),
        RowRule(
            "unique_contract",
            Reason.DUPLICATE_CONTRACT,
            "duplicate (snapshot_id, expiry, strike, option_type)",
            "unique",
            CONTRACT_KEY,
        ),
    ]
    rules += [
        RowRule(f"non_negative:{c}", Reason.NEGATIVE_PRICE, f"{c} < 0", "between", (c,), low=0.0)
        for c in ("bid", "ask", "last")
    ]
    return tuple(rules)


# --- schema -------------------------------------------------------------------------------------


def dtype_matches(dtype: Any, expected: str) -> bool:
    """Exact dtype match, except that a string column's storage (python/pyarrow) is free.

    Mirrors Great Expectations' ExpectColumnTypeToBe on pandas, so both engines agree.
    """
    if expected == "string":
        return isinstance(dtype, pd.StringDtype)
    return str(dtype) == expected


def schema_problems(
    columns: Iterable[str], dtypes: dict[str, Any], expected: Sequence[Column] = CHAIN_COLUMNS
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Missing column names and (column, observed dtype, expected dtype) mismatches."""
    present = set(columns)
    missing = [c.name for c in expected if c.name not in present]
    bad = [
        (c.name, str(dtypes[c.name]), c.dtype)
        for c in expected
        if c.name in present and not dtype_matches(dtypes[c.name], c.dtype)
    ]
    return missing, bad


def schema_violations(
    chain: pd.DataFrame, missing: Sequence[str], bad: Sequence[tuple[str, str, str]]
) -> list[Violation]:
    """A broken schema rejects every snapshot in the frame, each with the full story."""
    if not missing and not bad:
        return []
    counts = snapshot_ids(chain).value_counts(sort=False)
    out: list[Violation] = []
    for sid, n in counts.items():
        if missing:
            detail = f"missing columns: {', '.join(missing)}"
            out.append(Violation(str(sid), Reason.MISSING_COLUMNS, detail, int(n)))
        for col, seen, want in bad:
            detail = f"column {col} has dtype {seen}, expected {want}"
            out.append(Violation(str(sid), Reason.BAD_DTYPE, detail, int(n)))
    return out


# --- pandas engine ------------------------------------------------------------------------------


def rule_mask(chain: pd.DataFrame, rule: RowRule) -> np.ndarray:
    """Boolean mask of the rows breaking `rule` (the pandas engine)."""
    if rule.kind == "not_null":
        return chain[rule.columns[0]].isna().to_numpy()
    if rule.kind == "unique":
        keys = chain[list(rule.columns)]
        # Great Expectations skips rows whose key is entirely missing; do the same.
        considered = keys.notna().any(axis=1).to_numpy()
        return keys.duplicated(keep=False).to_numpy() & considered
    if rule.kind == "pair_ge":
        a = chain[rule.columns[0]].to_numpy(dtype=float, na_value=np.nan)
        b = chain[rule.columns[1]].to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            return ~np.isnan(a) & ~np.isnan(b) & ~(a >= b)
    s = chain[rule.columns[0]]
    present = s.notna().to_numpy()
    if rule.kind == "in_set":
        return present & ~s.isin(list(rule.values)).to_numpy()
    if rule.kind == "between":
        x = s.to_numpy(dtype=float, na_value=np.nan)
        ok = np.ones(len(x), dtype=bool)
        with np.errstate(invalid="ignore"):
            if rule.low is not None:
                ok &= (x > rule.low) if rule.strict_low else (x >= rule.low)
            if rule.high is not None:
                ok &= x <= rule.high
        return present & ~ok
    raise ValueError(f"unknown rule kind {rule.kind!r}")


def pandas_row_flags(chain: pd.DataFrame, rules: Sequence[RowRule]) -> list[RowFlag]:
    """Evaluate the rules with pandas/numpy; assumes the schema already checked out."""
    flags = []
    for rule in rules:
        positions = np.flatnonzero(rule_mask(chain, rule))
        if positions.size:
            flags.append(RowFlag(rule, positions))
    return flags


# --- flags -> violations ------------------------------------------------------------------------


def snapshot_ids(chain: pd.DataFrame) -> pd.Series:
    """Per-row snapshot id as plain str.

    A row with a null id is attributed to the id the schema defines from its underlying and ts,
    so its own snapshot is rejected with it instead of passing with a contract missing; where
    even that cannot be read (or the column is absent) the id is `<unknown>`.
    """
    if "snapshot_id" not in chain.columns:
        return pd.Series(UNKNOWN_SNAPSHOT, index=chain.index, dtype=object)
    sids = chain["snapshot_id"].astype(object)
    missing = sids.isna().to_numpy()
    if missing.any():
        sids = sids.copy()
        sids[missing] = [_derived_id(chain, i) for i in np.flatnonzero(missing)]
    return sids.astype(str)


def _derived_id(chain: pd.DataFrame, position: int) -> str:
    try:
        underlying, ts = chain["underlying"].iloc[position], chain["ts"].iloc[position]
        if pd.isna(underlying) or pd.isna(ts):
            return UNKNOWN_SNAPSHOT
        return snapshot_id(str(underlying), pd.Timestamp(ts))
    except (KeyError, TypeError, ValueError):
        return UNKNOWN_SNAPSHOT


def format_value(value: Any) -> str:
    """Compact, unambiguous rendering for detail strings (dates as dates, floats trimmed)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "null"
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%d") if value == value.normalize() else str(value)
        return value.tz_convert(MARKET_TZ).strftime("%Y-%m-%d %H:%M:%S%z")
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def describe_row(row: pd.Series, extra: Sequence[str] = ()) -> str:
    """'expiry 2025-01-30 strike 22000 CE (bid=5.1, ask=4.9)': which contract, what values."""
    ident = " ".join(
        f"{name} {format_value(row[col])}" if name else format_value(row[col])
        for name, col in (("expiry", "expiry"), ("strike", "strike"), ("", "option_type"))
        if col in row.index
    )
    named = ("snapshot_id", "expiry", "strike", "option_type")  # already said by ident/grouping
    shown = [c for c in extra if c in row.index and c not in named]
    if shown:
        ident += " (" + ", ".join(f"{c}={format_value(row[c])}" for c in shown) + ")"
    return ident


def flags_to_violations(chain: pd.DataFrame, flags: Sequence[RowFlag]) -> list[Violation]:
    """One Violation per (snapshot, rule), naming up to MAX_EXAMPLES offending contracts."""
    if not flags:
        return []
    sids = snapshot_ids(chain).to_numpy()
    out: list[Violation] = []
    for flag in flags:
        pos = np.sort(flag.positions)
        groups = pd.Series(pos).groupby(sids[pos], sort=True)
        for sid, rows in groups:
            n = len(rows)
            sample = chain.iloc[rows.to_numpy()[:MAX_EXAMPLES]]
            examples = "; ".join(describe_row(r, flag.rule.columns) for _, r in sample.iterrows())
            more = f"; and {n - MAX_EXAMPLES} more" if n > MAX_EXAMPLES else ""
            detail = f"{flag.rule.label} in {n} row(s): {examples}{more}"
            out.append(Violation(str(sid), flag.rule.reason, detail, n))
    return out
