"""NSE contract terms: every regime change in DOMAIN.md answered on both sides of its boundary."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantsentinel.market import contracts as ct
from quantsentinel.market.calendar import is_trading_day, previous_trading_day

TUE, WED, THU = 1, 2, 3


# --- table hygiene -----------------------------------------------------------------------------


def test_universe() -> None:
    assert ct.UNDERLYINGS == ct.INDICES + ct.STOCKS
    assert ct.INDICES == ("NIFTY", "BANKNIFTY")
    assert len(ct.STOCKS) == 11 and len(set(ct.UNDERLYINGS)) == 13


def test_every_row_is_dated_and_sourced() -> None:
    tables = (
        ct.EXPIRY_DAY_RULES,
        ct.LISTING_RULES,
        ct.LOT_SIZES,
        ct.STRIKE_STEPS,
        ct.STOCK_STRIKE_BANDS,
        ct.SETTLEMENT,
    )
    for table in tables:
        for row in table:
            assert row.source.strip()
            assert row.effective_until is None or row.effective_from <= row.effective_until
    for row in ct.LOT_SIZES:
        assert row.basis in {"listing", "expiry", "trade"}
        assert row.underlying in ct.UNDERLYINGS and row.lot > 0
    # Resolution picks the latest effective_from, so two rows of one underlying may not tie.
    keys = [(r.underlying, r.effective_from) for r in ct.LOT_SIZES]
    assert len(keys) == len(set(keys))
    assert {r.underlying for r in ct.LOT_SIZES} == set(ct.UNDERLYINGS)


# --- lot sizes ---------------------------------------------------------------------------------


def test_nifty_25_to_75_keys_on_listing_date() -> None:
    # A contract newly listed the day before / the first trading day after 2024-11-20.
    assert ct.lot_size("NIFTY", date(2024, 11, 19)) == 25
    assert ct.lot_size("NIFTY", date(2024, 11, 21)) == 75
    # Same trade date, different listing dates: the weekly listed 2024-11-22 is 75, the one
    # listed 2024-11-18 and the December monthly (listed in September) stay 25.
    on = date(2024, 12, 2)
    assert ct.listing_date("NIFTY", date(2024, 12, 19)) == date(2024, 11, 22)
    assert ct.lot_size("NIFTY", on, date(2024, 12, 19)) == 75
    assert ct.listing_date("NIFTY", date(2024, 12, 12)) == date(2024, 11, 18)
    assert ct.lot_size("NIFTY", on, date(2024, 12, 12)) == 25
    assert ct.lot_size("NIFTY", on, date(2024, 12, 26)) == 25


def test_nifty_75_to_65_keys_on_expiry_month() -> None:
    on = date(2025, 12, 1)
    assert ct.lot_size("NIFTY", on, date(2025, 12, 30)) == 75
    assert ct.lot_size("NIFTY", on, date(2026, 1, 27)) == 65
    # expiry=None answers for the nearest expiry: Dec 30 on the 30th, a January weekly after.
    assert ct.lot_size("NIFTY", date(2025, 12, 30)) == 75
    assert ct.lot_size("NIFTY", date(2025, 12, 31)) == 65


def test_nifty_50_to_25_applies_to_every_contract_from_the_trade_date() -> None:
    assert ct.lot_size("NIFTY", date(2024, 4, 25), date(2024, 5, 30)) == 50
    assert ct.lot_size("NIFTY", date(2024, 4, 26), date(2024, 5, 30)) == 25


def test_banknifty_15_to_30_keys_on_listing_date() -> None:
    assert ct.lot_size("BANKNIFTY", date(2024, 11, 19)) == 15
    assert ct.lot_size("BANKNIFTY", date(2024, 11, 21)) == 30
    on = date(2024, 12, 2)
    assert ct.lot_size("BANKNIFTY", on, date(2024, 12, 24)) == 15
    assert ct.listing_date("BANKNIFTY", date(2025, 1, 30)) == date(2024, 10, 31)
    assert ct.lot_size("BANKNIFTY", on, date(2025, 1, 30)) == 15
    assert ct.listing_date("BANKNIFTY", date(2025, 2, 27)) == date(2024, 11, 28)
    assert ct.lot_size("BANKNIFTY", on, date(2025, 2, 27)) == 30


def test_banknifty_30_to_35_from_july_2025_expiries() -> None:
    on = date(2025, 5, 2)
    assert ct.lot_size("BANKNIFTY", on, date(2025, 6, 26)) == 30
    assert ct.lot_size("BANKNIFTY", on, date(2025, 7, 31)) == 35
    assert ct.lot_size("BANKNIFTY", date(2025, 6, 26)) == 30
    assert ct.lot_size("BANKNIFTY", date(2025, 6, 27)) == 35


def test_banknifty_35_to_30_from_january_2026_expiries() -> None:
    on = date(2025, 11, 3)
    assert ct.lot_size("BANKNIFTY", on, date(2025, 12, 30)) == 35
    assert ct.lot_size("BANKNIFTY", on, date(2026, 1, 27)) == 30
    assert ct.lot_size("BANKNIFTY", date(2025, 12, 30)) == 35
    assert ct.lot_size("BANKNIFTY", date(2025, 12, 31)) == 30


def test_stock_lot_revisions_by_trade_date() -> None:
    assert ct.lot_size("RELIANCE", date(2024, 10, 25)) == 250
    assert ct.lot_size("RELIANCE", date(2024, 10, 28)) == 500
    assert ct.lot_size("SBIN", date(2024, 4, 25)) == 1500
    assert ct.lot_size("SBIN", date(2024, 4, 26)) == 750
    assert ct.lot_size("INFY", date(2025, 6, 2), date(2025, 7, 31)) == 400


def test_lot_size_errors_name_underlying_and_date() -> None:
    with pytest.raises(ValueError, match="FOO"):
        ct.lot_size("FOO", date(2025, 1, 2))
    with pytest.raises(ValueError, match=r"NIFTY.*2020-01-01"):
        ct.lot_size("NIFTY", date(2020, 1, 1))
    with pytest.raises(ValueError, match=r"TCS.*2023-06-01"):
        ct.lot_size("TCS", date(2023, 6, 1))  # stock rows start in 2024
    with pytest.raises(ValueError, match="not alive"):
        ct.lot_size("NIFTY", date(2025, 1, 10), date(2025, 1, 9))


# --- expiries ----------------------------------------------------------------------------------


def test_nifty_thursday_to_tuesday_switch_after_2025_08_28() -> None:
    got = ct.expiries("NIFTY", date(2025, 8, 25))
    assert got[:4] == [date(2025, 8, 28), date(2025, 9, 2), date(2025, 9, 9), date(2025, 9, 16)]
    assert got[0].weekday() == THU and all(d.weekday() == TUE for d in got[1:4])
    assert ct.expiry_kind("NIFTY", date(2025, 8, 28)) == "monthly"
    # Sep/Dec monthlies are also quarterlies, now on the last Tuesday; Mar 31 2026 is a holiday.
    assert got[4:] == [
        date(2025, 9, 30),
        date(2025, 10, 28),
        date(2025, 12, 30),
        date(2026, 3, 30),
        date(2026, 6, 30),
    ]
    assert ct.expiry_kind("NIFTY", date(2025, 9, 30)) == "quarterly"
    assert ct.expiry_kind("NIFTY", date(2025, 10, 28)) == "monthly"
    assert ct.expiry_kind("NIFTY", date(2025, 9, 9)) == "weekly"


def test_nifty_before_the_switch_is_thursday() -> None:
    got = ct.expiries("NIFTY", date(2025, 6, 2))
    assert got[:5] == [
        date(2025, 6, 5),
        date(2025, 6, 12),
        date(2025, 6, 19),
        date(2025, 6, 26),
        date(2025, 7, 31),
    ]
    assert ct.expiry_kind("NIFTY", date(2025, 6, 26)) == "quarterly"


@pytest.mark.parametrize(
    ("underlying", "on", "nominal", "rolled"),
    [
        ("NIFTY", date(2024, 4, 8), date(2024, 4, 11), date(2024, 4, 10)),  # Id, Thursday
        ("NIFTY", date(2024, 8, 12), date(2024, 8, 15), date(2024, 8, 14)),  # Independence Day
        ("NIFTY", date(2025, 10, 13), date(2025, 10, 21), date(2025, 10, 20)),  # Diwali, Tuesday
        ("NIFTY", date(2026, 3, 2), date(2026, 3, 31), date(2026, 3, 30)),  # Mahavir Jayanti
        ("BANKNIFTY", date(2024, 12, 2), date(2024, 12, 25), date(2024, 12, 24)),  # Christmas
        ("BANKNIFTY", date(2024, 7, 15), date(2024, 7, 17), date(2024, 7, 16)),  # Moharram
    ],
)
def test_holiday_expiry_rolls_back(underlying: str, on: date, nominal: date, rolled: date) -> None:
    got = ct.expiries(underlying, on)
    assert rolled in got and nominal not in got
    assert rolled == previous_trading_day(nominal)


def test_banknifty_weeklies_end_after_2024_11_13() -> None:
    before = ct.expiries("BANKNIFTY", date(2024, 11, 4))
    assert before == [
        date(2024, 11, 6),
        date(2024, 11, 13),
        date(2024, 11, 27),
        date(2024, 12, 24),
        date(2025, 1, 30),
    ]
    assert [ct.expiry_kind("BANKNIFTY", d) for d in before[:2]] == ["weekly", "weekly"]
    after = ct.expiries("BANKNIFTY", date(2024, 11, 14))
    assert after == [date(2024, 11, 27), date(2024, 12, 24), date(2025, 1, 30)]
    assert all(ct.expiry_kind("BANKNIFTY", d) == "monthly" for d in after)


def test_banknifty_monthly_weekday_regimes() -> None:
    # Wednesday weeklies skip the monthly week, whose slot the Thursday monthly takes.
    assert ct.expiries("BANKNIFTY", date(2024, 2, 19), count=3) == [
        date(2024, 2, 21),
        date(2024, 2, 29),
        date(2024, 3, 6),
    ]
    # From March 2024 the monthly is on the last Wednesday, so it shares the weekly weekday.
    assert ct.expiries("BANKNIFTY", date(2024, 3, 18), count=2) == [
        date(2024, 3, 20),
        date(2024, 3, 27),
    ]
    assert ct.expiry_kind("BANKNIFTY", date(2024, 3, 27)) == "monthly"
    assert ct.expiries("BANKNIFTY", date(2025, 8, 1)) == [
        date(2025, 8, 28),  # last Thursday
        date(2025, 9, 30),  # last Tuesday
        date(2025, 10, 28),
    ]


def test_stock_expiries_are_three_serial_monthlies() -> None:
    assert ct.expiries("RELIANCE", date(2025, 8, 20)) == [
        date(2025, 8, 28),
        date(2025, 9, 30),
        date(2025, 10, 28),
    ]
    assert ct.expiries("TCS", date(2024, 12, 2)) == [
        date(2024, 12, 26),
        date(2025, 1, 30),
        date(2025, 2, 27),
    ]
    assert ct.expiry_kind("TCS", date(2025, 3, 27)) == "monthly"


def test_expiries_count_and_errors() -> None:
    assert ct.expiries("NIFTY", date(2025, 8, 25), count=2) == [date(2025, 8, 28), date(2025, 9, 2)]
    with pytest.raises(ValueError, match="count"):
        ct.expiries("NIFTY", date(2025, 8, 25), count=0)
    with pytest.raises(ValueError, match=r"NIFTY.*2022-06-01"):
        ct.expiries("NIFTY", date(2022, 6, 1))
    with pytest.raises(ValueError, match="XYZ"):
        ct.expiries("XYZ", date(2025, 1, 2))
    with pytest.raises(ValueError, match="not a scheduled NIFTY expiry"):
        ct.expiry_kind("NIFTY", date(2025, 9, 3))


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(ct.UNDERLYINGS),
    st.dates(min_value=date(2023, 6, 1), max_value=date(2026, 10, 31)),
)
def test_listed_expiries_invariants(underlying: str, on: date) -> None:
    got = ct.expiries(underlying, on)
    assert got and got == sorted(set(got))
    assert all(d >= on and is_trading_day(d) for d in got)
    kinds = [ct.expiry_kind(underlying, d) for d in got]
    assert set(kinds) <= {"weekly", "monthly", "quarterly"}
    assert sum(k != "weekly" for k in kinds) >= 3
    if underlying == "NIFTY":
        assert len(got) >= 4 + 1


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(ct.UNDERLYINGS),
    st.dates(min_value=date(2024, 6, 1), max_value=date(2026, 10, 31)),
)
def test_listing_date_is_when_the_contract_first_appears(underlying: str, on: date) -> None:
    if not is_trading_day(on):
        on = previous_trading_day(on)
    for expiry in ct.expiries(underlying, on):
        listed = ct.listing_date(underlying, expiry)
        assert listed <= on and is_trading_day(listed)
        assert expiry in ct.expiries(underlying, listed)
        assert expiry not in ct.expiries(underlying, previous_trading_day(listed))


# --- strike steps and spec ---------------------------------------------------------------------


def test_index_strike_steps() -> None:
    on = date(2025, 1, 2)
    assert ct.strike_step("NIFTY", on) == 50
    assert ct.strike_step("NIFTY", on, 1.079) == 50
    assert ct.strike_step("NIFTY", on, 0.921) == 50
    assert ct.strike_step("NIFTY", on, 1.081) == 100
    assert ct.strike_step("NIFTY", on, 0.919) == 100
    assert ct.strike_step("BANKNIFTY", on) == 100
    assert ct.strike_step("BANKNIFTY", on, 1.3) == 100
    assert ct.strike_step_for_price("NIFTY", on, 24000.0) == 50
    with pytest.raises(ValueError, match="moneyness"):
        ct.strike_step("NIFTY", on, -0.05)


def test_stock_strike_steps_follow_price_bands() -> None:
    on = date(2025, 1, 2)
    assert ct.strike_step_for_price("ITC", on, 420.0) == 5
    assert ct.strike_step_for_price("ITC", on, 500.0) == 5  # band tops are inclusive
    assert ct.strike_step_for_price("ITC", on, 500.01) == 10
    assert ct.strike_step("TCS", on, spot=4100.0) == 50
    with pytest.raises(ValueError, match="spot"):
        ct.strike_step("TCS", on)
    with pytest.raises(ValueError, match="positive"):
        ct.strike_step_for_price("TCS", on, 0.0)


@given(st.floats(min_value=1.0, max_value=50_000.0), st.floats(min_value=1.0, max_value=50_000.0))
def test_stock_strike_step_grows_with_price(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    on = date(2025, 1, 2)
    assert ct.strike_step_for_price("LT", on, lo) <= ct.strike_step_for_price("LT", on, hi)


def test_contract_spec_bundles_terms() -> None:
    spec = ct.contract_spec("NIFTY", date(2025, 1, 2))
    assert (spec.kind, spec.lot_size, spec.strike_step) == ("index", 75, 50)
    assert spec.settlement == "European, cash-settled"
    assert spec.expiries[0] == date(2025, 1, 2)
    stock = ct.contract_spec("TCS", date(2025, 1, 2))
    assert stock.strike_step is None and stock.settlement.endswith("physically settled")
    assert ct.contract_spec("TCS", date(2025, 1, 2), spot=4100.0).strike_step == 50
