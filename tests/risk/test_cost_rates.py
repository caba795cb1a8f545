"""The effective-dated charge table: DOMAIN.md's rates, every boundary, coverage and hygiene."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from quantsentinel.market import contracts
from quantsentinel.risk.costs import (
    BROKERAGE,
    DEFAULT_ROWS,
    EXCHANGE_TXN,
    FUTURE,
    GST,
    IPFT,
    OPTION,
    RATE_CHARGES,
    SEBI_FEE,
    SLIPPAGE,
    STAMP_DUTY,
    STT,
    STT_EXERCISE,
    CostEngine,
    RateCoverageError,
    RateRow,
    RateSchedule,
)
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.orders import Leg, Quote
from quantsentinel.risk.tenancy.policy import BrokeragePlan

FLAT = BrokeragePlan(kind="flat", flat_per_order=20.0)
ENGINE = CostEngine()


def nifty_leg(on: date, side: str = "SELL", kind: str = "CE", price: float = 100.0) -> Leg:
    expiry = contracts.expiries("NIFTY", on, count=1)[0]
    lot = contracts.lot_size("NIFTY", on, expiry)
    strike = None if kind == "FUT" else 25000.0
    return Leg("NIFTY", kind, expiry, strike, side, 1, lot, Quote(price, price))


SCHEDULE = RateSchedule()

# DOMAIN.md "Transaction costs", period by period (rates as fractions).
DOMAIN_TABLE = {
    (STT, OPTION): [(date(2024, 9, 30), 0.000625), (date(2024, 10, 1), 0.001),
                    (date(2026, 3, 31), 0.001), (date(2026, 4, 1), 0.0015)],
    (STT_EXERCISE, OPTION): [(date(2026, 3, 31), 0.00125), (date(2026, 4, 1), 0.0015)],
    (STT, FUTURE): [(date(2024, 9, 30), 0.000125), (date(2024, 10, 1), 0.0002),
                    (date(2026, 3, 31), 0.0002), (date(2026, 4, 1), 0.0005)],
    (EXCHANGE_TXN, OPTION): [(date(2024, 9, 30), 0.000495), (date(2024, 10, 1), 0.0003503)],
    (EXCHANGE_TXN, FUTURE): [(date(2024, 9, 30), 0.000019), (date(2024, 10, 1), 0.0000173)],
    (IPFT, OPTION): [(date(2025, 1, 1), 0.000005)],
    (IPFT, FUTURE): [(date(2025, 1, 1), 0.000001)],
    (SEBI_FEE, OPTION): [(date(2025, 1, 1), 10 / 1e7)],
    (SEBI_FEE, FUTURE): [(date(2025, 1, 1), 10 / 1e7)],
    (STAMP_DUTY, OPTION): [(date(2025, 1, 1), 0.00003)],
    (STAMP_DUTY, FUTURE): [(date(2025, 1, 1), 0.00002)],
    (GST, OPTION): [(date(2025, 1, 1), 0.18)],
    (GST, FUTURE): [(date(2025, 1, 1), 0.18)],
}  # fmt: skip


@pytest.mark.parametrize(("key", "points"), list(DOMAIN_TABLE.items()))
def test_default_schedule_matches_domain(key, points) -> None:
    for on, rate in points:
        assert SCHEDULE.rate(*key, on) == pytest.approx(rate, rel=1e-12)


def _changes() -> list[tuple[RateRow, RateRow]]:
    """(previous, next) row pairs of one charge where the rate changes on next.effective_from."""
    pairs = []
    for a in DEFAULT_ROWS:
        for b in DEFAULT_ROWS:
            same = (a.charge, a.instrument) == (b.charge, b.instrument)
            if (
                same
                and a.effective_to is not None
                and a.effective_to + timedelta(1) == b.effective_from
            ):
                pairs.append((a, b))
    return pairs


@pytest.mark.parametrize(
    ("before", "after"), _changes(), ids=lambda r: f"{r.charge}-{r.instrument}-{r.effective_from}"
)
def test_every_boundary_day_before_at_after(before: RateRow, after: RateRow) -> None:
    change = after.effective_from
    assert SCHEDULE.rate(before.charge, before.instrument, change - timedelta(1)) == before.rate
    assert SCHEDULE.rate(after.charge, after.instrument, change) == after.rate
    assert SCHEDULE.rate(after.charge, after.instrument, change + timedelta(1)) == after.rate
    assert before.rate != after.rate


def test_changes_cover_the_three_periods() -> None:
    dates = {after.effective_from for _, after in _changes()}
    assert dates == {date(2024, 10, 1), date(2026, 4, 1)}


def test_every_row_has_a_source_and_covers_every_required_charge() -> None:
    assert all(row.source.strip() for row in DEFAULT_ROWS)
    assert SCHEDULE.coverage_start() == date(2023, 4, 1)
    assert {r.charge for r in DEFAULT_ROWS} == set(RATE_CHARGES)


def test_pre_coverage_date_raises_never_borrows() -> None:
    first = SCHEDULE.coverage_start()
    with pytest.raises(RateCoverageError) as err:
        SCHEDULE.rate(STT, OPTION, first - timedelta(1))
    assert err.value.code == "rate_not_covered"
    assert "2023-04-01" in str(err.value)
    assert SCHEDULE.rate(STT, OPTION, first) == 0.000625
    # The engine refuses a whole order dated before coverage, not just one line.
    legs = [nifty_leg(date(2023, 3, 31))]
    with pytest.raises(RateCoverageError):
        ENGINE.entry(legs, date(2023, 3, 31), FLAT)


def test_gap_in_a_custom_schedule_raises() -> None:
    rows = [r for r in DEFAULT_ROWS if not (r.charge == STT and r.instrument == OPTION)]
    rows.append(RateRow(STT, OPTION, 0.001, date(2023, 4, 1), date(2024, 12, 31), "test row"))
    rows.append(RateRow(STT, OPTION, 0.002, date(2025, 2, 1), None, "test row"))
    schedule = RateSchedule(rows)
    assert schedule.rate(STT, OPTION, date(2024, 12, 31)) == 0.001
    assert schedule.rate(STT, OPTION, date(2025, 2, 1)) == 0.002
    with pytest.raises(RateCoverageError):
        schedule.rate(STT, OPTION, date(2025, 1, 15))


def test_custom_schedule_drives_the_engine() -> None:
    rows = [r for r in DEFAULT_ROWS if r.charge != STT]
    rows += [
        RateRow(STT, OPTION, 0.01, date(2023, 4, 1), None, "hypothetical 1%"),
        RateRow(STT, FUTURE, 0.0, date(2023, 4, 1), None, "hypothetical 0"),
    ]
    legs = [nifty_leg(date(2025, 5, 20))]
    stt = CostEngine(RateSchedule(rows)).entry(legs, date(2025, 5, 20), FLAT).by_charge()[STT]
    assert stt == pytest.approx(0.01 * 100.0 * legs[0].quantity)


@pytest.mark.parametrize(
    "bad",
    [
        RateRow("stt_bought", OPTION, 0.001, date(2023, 4, 1), None, "x"),
        RateRow(STT, "swap", 0.001, date(2023, 4, 1), None, "x"),
        RateRow(STT, OPTION, -0.001, date(2023, 4, 1), None, "x"),
        RateRow(STT, OPTION, math.nan, date(2023, 4, 1), None, "x"),
        RateRow(STT, OPTION, 1.5, date(2023, 4, 1), None, "x"),
        RateRow(STT, OPTION, 0.001, date(2023, 4, 1), date(2023, 3, 1), "x"),
        RateRow(STT, OPTION, 0.001, date(2023, 4, 1), None, "  "),
        RateRow(STT, OPTION, 0.001, date(2025, 1, 1), None, "overlaps the 2024-10 row"),
    ],
)
def test_malformed_rows_are_refused(bad: RateRow) -> None:
    with pytest.raises(RiskInputError) as err:
        RateSchedule([*DEFAULT_ROWS, bad])
    assert err.value.code == "bad_rate_table"


@pytest.mark.parametrize("change", [date(2024, 10, 1), date(2026, 4, 1)])
def test_engine_prices_each_order_at_its_own_dates_rates(change: date) -> None:
    stts = []
    for on in (change - timedelta(1), change, change + timedelta(1)):
        expiry = contracts.expiries("NIFTY", on, count=1)[0]
        lot = contracts.lot_size("NIFTY", on, expiry)
        legs = [
            Leg("NIFTY", "CE", expiry, 25000.0, "SELL", 1, lot, Quote(100.0, 100.0)),
            Leg("NIFTY", "FUT", expiry, None, "SELL", 1, lot, Quote(25000.0, 25000.0)),
        ]
        costs = ENGINE.entry(legs, on, FLAT)
        for line in costs.lines:
            if line.charge not in (BROKERAGE, SLIPPAGE):
                instrument = OPTION if legs[line.leg].is_option else FUTURE
                assert line.rate == SCHEDULE.rate(line.charge, instrument, on)
        stts.append(tuple(line.rate for line in costs.lines if line.charge == STT))
    assert stts[0] != stts[1] == stts[2]
