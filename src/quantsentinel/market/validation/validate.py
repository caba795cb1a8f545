"""Snapshot-level verdicts: run every rule family and split a chain frame into passed/rejected.

Order of work: schema first (a broken schema makes every other rule meaningless, so it rejects
every snapshot and nothing else runs), then the tabular row rules, the freshness rules and the
static no-arbitrage rules. Every reason is collected; a snapshot with any violation is rejected
whole, so downstream never sees part of a bad snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from quantsentinel.market.schema import CHAIN_COLUMNS, empty_frame
from quantsentinel.market.validation.arbitrage import arbitrage_violations
from quantsentinel.market.validation.freshness import freshness_violations
from quantsentinel.market.validation.rules import (
    flags_to_violations,
    pandas_row_flags,
    row_rules,
    schema_problems,
    schema_violations,
    snapshot_ids,
)
from quantsentinel.market.validation.types import (
    EMPTY_SNAPSHOT,
    REJECTED_COLUMNS,
    Reason,
    ValidationConfig,
    ValidationReport,
    Violation,
)

if TYPE_CHECKING:
    import great_expectations as gx

_CHAIN_NAMES = [c.name for c in CHAIN_COLUMNS]
DEFAULT_CONFIG = ValidationConfig()  # frozen, so one shared default is safe


def build_expectation_suite(config: ValidationConfig = DEFAULT_CONFIG) -> gx.ExpectationSuite:
    """The Great Expectations suite behind the tabular rules, for display and recording."""
    from quantsentinel.market.validation import gx_engine

    return gx_engine.build_expectation_suite(config.iv_bounds)


def _duplicate_names(chain: pd.DataFrame) -> list[str]:
    return sorted({str(c) for c in chain.columns[chain.columns.duplicated()]})


def tabular_violations(
    chain: pd.DataFrame, config: ValidationConfig = DEFAULT_CONFIG
) -> list[Violation]:
    """Schema and row rules, by Great Expectations or by the equivalent pandas path.

    Returns only schema violations when the schema is broken.
    """
    dupes = _duplicate_names(chain)
    if dupes:
        # Neither engine can address a column that appears twice; report before touching it.
        detail = f"duplicate column names: {', '.join(dupes)}"
        counts = snapshot_ids(chain.loc[:, ~chain.columns.duplicated()]).value_counts(sort=False)
        return [Violation(str(s), Reason.BAD_DTYPE, detail, int(n)) for s, n in counts.items()]
    frame = chain.reset_index(drop=True)
    # The schema is project code for both engines (see gx_engine's notes on table-level
    # expectations); row rules only run on a frame whose columns and dtypes are right.
    missing, bad = schema_problems(frame.columns, frame.dtypes.to_dict())
    if missing or bad:
        return schema_violations(frame, missing, bad)
    rules = row_rules(config.iv_bounds)
    if config.use_great_expectations:
        from quantsentinel.market.validation import gx_engine

        flags = gx_engine.gx_row_flags(frame, config.iv_bounds)
    else:
        flags = pandas_row_flags(frame, rules)
    return flags_to_violations(frame, flags)


def _first_values(chain: pd.DataFrame, sids: pd.Series, column: str, dtype: str) -> pd.Series:
    """First value per snapshot of a column that may be missing or mistyped (schema failures)."""
    if column not in chain.columns:
        return pd.Series(pd.NA, index=sids.unique()).astype(dtype)
    values = chain[column]
    try:
        if dtype.startswith("datetime"):
            values = pd.to_datetime(values, utc=True, errors="coerce")
        values = values.groupby(sids.to_numpy(), sort=False).first()
        return values.astype(dtype)
    except (TypeError, ValueError):
        return pd.Series(pd.NA, index=sids.unique()).astype(dtype)


def _rejected_table(
    ids: list[str],
    underlying: list[object],
    ts: list[object],
    groups: list[list[Violation]],
    n_rows: list[int],
) -> pd.DataFrame:
    """The quarantine table: one row per rejected snapshot, dtypes fixed even when empty."""
    return pd.DataFrame(
        {
            "snapshot_id": pd.array(ids, dtype="string"),
            "underlying": pd.array(underlying, dtype="string"),
            "ts": pd.to_datetime(pd.Series(ts, dtype=object), utc=True).astype(
                "datetime64[ns, UTC]"
            ),
            "reasons": pd.Series([sorted({v.reason for v in g}) for g in groups], dtype=object),
            "details": pd.Series([[v.detail for v in g] for g in groups], dtype=object),
            "n_rows": pd.array(n_rows, dtype="int64"),
        },
        columns=list(REJECTED_COLUMNS),
    )


def _rejected_frame(chain: pd.DataFrame, violations: list[Violation]) -> pd.DataFrame:
    by_sid: dict[str, list[Violation]] = {}
    for v in violations:
        by_sid.setdefault(v.snapshot_id, []).append(v)
    order = sorted(by_sid)  # snapshot ids are '<UNDERLYING>-<UTC second>': sorts by time
    if not order:
        return _rejected_table([], [], [], [], [])
    sids = snapshot_ids(chain)
    sizes = sids.value_counts(sort=False)
    underlying = _first_values(chain, sids, "underlying", "string").reindex(order)
    ts = _first_values(chain, sids, "ts", "datetime64[ns, UTC]").reindex(order)
    return _rejected_table(
        order,
        list(underlying),
        list(ts),
        [by_sid[s] for s in order],
        [int(sizes.get(s, 0)) for s in order],
    )


def _empty_report(chain: pd.DataFrame) -> ValidationReport:
    violations = [Violation(EMPTY_SNAPSHOT, Reason.EMPTY_CHAIN, "the chain frame has no rows", 0)]
    if not _duplicate_names(chain):
        missing, bad = schema_problems(chain.columns, chain.dtypes.to_dict())
        if missing:
            detail = f"missing columns: {', '.join(missing)}"
            violations.append(Violation(EMPTY_SNAPSHOT, Reason.MISSING_COLUMNS, detail, 0))
        for col, seen, want in bad:
            detail = f"column {col} has dtype {seen}, expected {want}"
            violations.append(Violation(EMPTY_SNAPSHOT, Reason.BAD_DTYPE, detail, 0))
    rejected = _rejected_table([EMPTY_SNAPSHOT], [pd.NA], [pd.NaT], [violations], [0])
    return ValidationReport(empty_frame(CHAIN_COLUMNS), rejected, tuple(violations))


def validate_snapshots(
    chain: pd.DataFrame, config: ValidationConfig = DEFAULT_CONFIG
) -> ValidationReport:
    """Validate every snapshot in `chain`; never raises on malformed input frames.

    An empty frame yields one EMPTY_CHAIN violation under the pseudo id "<empty>".
    """
    if len(chain) == 0:
        return _empty_report(chain)
    frame = chain.reset_index(drop=True)
    violations = tabular_violations(frame, config)
    if any(v.reason in Reason.SCHEMA for v in violations):
        passed = empty_frame(CHAIN_COLUMNS)
    else:
        violations += freshness_violations(frame, config)
        violations += arbitrage_violations(frame, config)
        rejected_ids = {v.snapshot_id for v in violations}
        keep = ~snapshot_ids(frame).isin(rejected_ids).to_numpy()
        passed = frame.loc[keep, _CHAIN_NAMES].reset_index(drop=True)
    # Identify snapshots from the first of any duplicated column, so even that frame gets ids.
    unique_columns = frame.loc[:, ~frame.columns.duplicated()]
    return ValidationReport(passed, _rejected_frame(unique_columns, violations), tuple(violations))
