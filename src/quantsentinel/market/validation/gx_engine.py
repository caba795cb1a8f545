"""The Great Expectations engine for the tabular row rules.

Importing great_expectations costs seconds and building a context tens of milliseconds, so both
happen lazily, once per process, and the registered suite is cached per configuration. One
validation covers a whole multi-snapshot frame; failing rows come back as positional indices
(on a RangeIndex) and project code maps them to snapshot ids.

What this GX version (1.24.1, checked) does and does not give back:
- column-map and column-pair expectations and ExpectCompoundColumnsToBeUnique return every
  failing row in `unexpected_index_list` under COMPLETE (all members of a duplicate group, not
  only the repeats); BASIC returns counts but no indices, SUMMARY only the first 20;
- table-level expectations (ExpectTableColumnsToMatchSet, ExpectColumnTypeToBe) return no rows,
  cost ~15 ms each in GX's per-expectation overhead (17 of them doubled the run time), and row
  expectations on a missing or mistyped column fail or raise without indices. So the schema is
  checked by project code (`rules.schema_problems`) before GX ever sees the frame.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantsentinel.market.schema import CHAIN_COLUMNS
from quantsentinel.market.validation.rules import RowFlag, RowRule, row_rules

if TYPE_CHECKING:
    import great_expectations as gx

# Re-entrant: the public entry points hold it while calling the helpers that also take it.
# GX contexts are not documented as thread-safe, and Dagster may run assets on threads.
_lock = threading.RLock()
_context: Any = None
_batch_definition: Any = None
_suites: dict[tuple[float, float], Any] = {}


def _ensure_context() -> tuple[Any, Any]:
    """Create the process-wide ephemeral context once (the import is the expensive part)."""
    global _context, _batch_definition
    if _context is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # GX reports through logging and tqdm; a validator run inside an asset should not
        # spray progress bars over Dagster's captured stderr.
        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas("quantsentinel_chain")
        asset = source.add_dataframe_asset("chain_snapshots")
        _batch_definition = asset.add_batch_definition_whole_dataframe("whole_frame")
        _context = context
    return _context, _batch_definition


def _expectation(rule: RowRule) -> Any:
    import great_expectations.expectations as gxe

    meta = {"rule": rule.key, "reason": rule.reason}
    c = rule.columns
    if rule.kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=c[0], meta=meta, description=rule.label)
    if rule.kind == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(
            column=c[0], value_set=list(rule.values), meta=meta, description=rule.label
        )
    if rule.kind == "pair_ge":
        return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=c[0],
            column_B=c[1],
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=meta,
            description=rule.label,
        )
    if rule.kind == "between":
        return gxe.ExpectColumnValuesToBeBetween(
            column=c[0],
            min_value=rule.low,
            max_value=rule.high,
            strict_min=rule.strict_low,
            meta=meta,
            description=rule.label,
        )
    if rule.kind == "unique":
        return gxe.ExpectCompoundColumnsToBeUnique(
            column_list=list(c), meta=meta, description=rule.label
        )
    raise ValueError(f"unknown rule kind {rule.kind!r}")


def _new_suite(name: str, iv_bounds: tuple[float, float]) -> gx.ExpectationSuite:
    import great_expectations as gx

    suite = gx.ExpectationSuite(
        name=name,
        meta={"notes": "quantsentinel chain snapshots; a failing row rejects its whole snapshot"},
    )
    for rule in row_rules(iv_bounds):
        suite.add_expectation(_expectation(rule))
    return suite


def build_expectation_suite(iv_bounds: tuple[float, float]) -> gx.ExpectationSuite:
    """A fresh, unregistered copy of the suite, safe for callers to render or serialize."""
    with _lock:
        _ensure_context()
    return _new_suite(f"chain_snapshots_{iv_bounds[0]:g}_{iv_bounds[1]:g}", iv_bounds)


def _registered_suite(iv_bounds: tuple[float, float]) -> Any:
    with _lock:
        context, _ = _ensure_context()
        suite = _suites.get(iv_bounds)
        if suite is None:
            name = f"chain_snapshots_{len(_suites)}"
            suite = context.suites.add(_new_suite(name, iv_bounds))
            _suites[iv_bounds] = suite
        return suite


def _unexpected_rows(result: Any) -> np.ndarray | None:
    """Positional indices of failing rows, or None when GX could not say which rows failed."""
    if (result.exception_info or {}).get("raised_exception"):
        return None
    indices = dict(result.result or {}).get("unexpected_index_list")
    if not indices:
        return None
    return np.asarray(indices, dtype=np.int64)


def gx_row_flags(chain: pd.DataFrame, iv_bounds: tuple[float, float]) -> list[RowFlag]:
    """Evaluate the row rules with Great Expectations; `chain` must have a valid schema.

    Two passes keep the common case cheap: one validation of the whole suite over the whole
    frame in BASIC format (success and counts only), then, only if something failed, one
    COMPLETE validation of just the failed expectations to get every failing row index.
    COMPLETE costs about twice BASIC even on a clean frame, and clean partitions are the norm.
    """
    with _lock:
        return _gx_row_flags(chain, iv_bounds)


def _gx_row_flags(chain: pd.DataFrame, iv_bounds: tuple[float, float]) -> list[RowFlag]:
    suite = _registered_suite(iv_bounds)
    _, batch_definition = _ensure_context()
    # Positional indices are what the flags carry, so hand GX a RangeIndex. Only the columns
    # the rules read: GX copies the frame per metric when it filters out nulls.
    frame = chain[_rule_columns(iv_bounds)].reset_index(drop=True)
    # Batch.validate rather than ValidationDefinition.run: the latter stores every result in
    # the context's in-memory results store, which grows without bound in a long-lived code
    # server; the verdict we need is the return value alone.
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    summary = batch.validate(suite, result_format={"result_format": "BASIC"})

    by_key = {rule.key: rule for rule in row_rules(iv_bounds)}
    failed = [r.expectation_config.meta.get("rule", "") for r in summary.results if not r.success]
    unexplained = [f"unknown expectation {key!r}" for key in failed if key not in by_key]
    flags: list[RowFlag] = []
    if failed and not unexplained:
        import great_expectations as gx

        # One COMPLETE pass over just the failed rules (fresh, unregistered copies).
        retry = gx.ExpectationSuite(name="chain_snapshots_failed_rules")
        for key in failed:
            retry.add_expectation(_expectation(by_key[key]))
        complete = batch.validate(retry, result_format={"result_format": "COMPLETE"})
        for res in complete.results:
            key = res.expectation_config.meta["rule"]
            rows = _unexpected_rows(res)
            if rows is None:
                message = (res.exception_info or {}).get("exception_message")
                unexplained.append(f"{key}: {message}")
            else:
                flags.append(RowFlag(by_key[key], rows))
    if unexplained:
        # A failed rule we cannot attribute to rows must never turn into a silent pass.
        raise RuntimeError(f"Great Expectations failed without row indices: {unexplained}")
    # GX orders results its own way; keep the declaration order so details are reproducible.
    order = {key: i for i, key in enumerate(by_key)}
    flags.sort(key=lambda f: order[f.rule.key])
    return flags


def _rule_columns(iv_bounds: tuple[float, float]) -> list[str]:
    wanted = {c for rule in row_rules(iv_bounds) for c in rule.columns}
    return [c.name for c in CHAIN_COLUMNS if c.name in wanted]
