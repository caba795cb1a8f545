"""The vocabulary of chain validation: reasons, violations, configuration and the report.

Kept free of pandas logic and of Great Expectations so the Dagster layer (asset checks, the
quarantine asset) can import these names without paying for either validation engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# Pseudo snapshot ids, used when a real id cannot be attributed.
UNKNOWN_SNAPSHOT = "<unknown>"  # snapshot_id column missing, or a row's id is null
EMPTY_SNAPSHOT = "<empty>"  # the frame had no rows at all

# Timedelta is immutable, so one shared default instance is safe.
DEFAULT_MAX_STALENESS = pd.Timedelta(seconds=60)

REJECTED_COLUMNS = ("snapshot_id", "underlying", "ts", "reasons", "details", "n_rows")


class Reason:
    """Every violation carries one of these names; they land verbatim in the audit log."""

    # schema: checked before anything else, a broken schema rejects every snapshot
    MISSING_COLUMNS = "missing_columns"
    BAD_DTYPE = "bad_dtype"
    EMPTY_CHAIN = "empty_chain"
    # tabular row rules (Great Expectations, or the pandas fast path)
    NULL_REQUIRED = "null_required"
    DUPLICATE_CONTRACT = "duplicate_contract"
    CROSSED_QUOTE = "crossed_quote"
    NEGATIVE_PRICE = "negative_price"
    IV_OUT_OF_BOUNDS = "iv_out_of_bounds"
    BAD_OPTION_TYPE = "bad_option_type"
    NON_POSITIVE_STRIKE = "non_positive_strike"
    # freshness (project code, exchange calendar)
    OUTSIDE_SESSION = "outside_session"
    STALE_SNAPSHOT = "stale_snapshot"
    # static no-arbitrage (project code)
    CALL_NOT_MONOTONE = "call_not_monotone"
    PUT_NOT_MONOTONE = "put_not_monotone"
    CALL_NOT_CONVEX = "call_not_convex"
    PUT_NOT_CONVEX = "put_not_convex"
    VERTICAL_SPREAD_BOUND = "vertical_spread_bound"
    PUT_CALL_PARITY = "put_call_parity"
    EXPIRED_CONTRACT = "expired_contract"

    SCHEMA = frozenset({MISSING_COLUMNS, BAD_DTYPE})

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """Every reason name, for tests and for documenting the audit vocabulary."""
        return tuple(v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str))


@dataclass(frozen=True)
class Violation:
    """One rule broken in one snapshot. `count` is the number of rows that broke it."""

    snapshot_id: str
    reason: str
    detail: str
    count: int


@dataclass(frozen=True)
class ValidationConfig:
    """Thresholds for one validation run.

    `max_staleness=None` disables the staleness rule: historical files (bhavcopy, replays) are
    received long after the exchange time by design. Quotes are discrete (0.05 ticks), so the
    no-arbitrage inequalities get `arbitrage_tolerance` of slack, and parity gets
    `parity_tolerance_ticks` multiples of that tick on top of the quoted spreads.
    """

    max_staleness: pd.Timedelta | None = DEFAULT_MAX_STALENESS
    iv_bounds: tuple[float, float] = (0.01, 3.0)
    parity_tolerance_ticks: float = 2.0
    arbitrage_tolerance: float = 0.05
    rate: float = 0.065
    use_great_expectations: bool = True

    @property
    def parity_tolerance(self) -> float:
        """Parity slack in price points (ticks times the one-tick arbitrage tolerance)."""
        return self.parity_tolerance_ticks * self.arbitrage_tolerance


@dataclass(frozen=True)
class ValidationReport:
    """The verdict on a chain frame that may hold many snapshots.

    `passed` holds only whole snapshots without any violation, so downstream never sees a
    partially bad snapshot; `rejected` has one row per rejected snapshot for the quarantine.
    """

    passed: pd.DataFrame
    rejected: pd.DataFrame
    violations: tuple[Violation, ...] = field(default_factory=tuple)

    def reasons_for(self, snapshot_id: str) -> list[str]:
        """Sorted unique reasons a snapshot was rejected for; empty when it passed."""
        return sorted({v.reason for v in self.violations if v.snapshot_id == snapshot_id})

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return not self.violations
