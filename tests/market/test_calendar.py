"""NSE calendar: holidays, trading-day arithmetic, session bounds and ACT/365 time to expiry."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantsentinel.market import calendar as cal

IST = "Asia/Kolkata"
covered_days = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))


def ist(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=IST)


# --- holidays and trading days ---------------------------------------------------------------


def test_holiday_table_is_weekday_closures_with_sources() -> None:
    days = [h.day for h in cal.NSE_HOLIDAYS]
    assert len(days) == len(set(days))
    assert all(d.weekday() < 5 for d in days), "weekends are a rule, not table rows"
    assert all(h.source and h.name for h in cal.NSE_HOLIDAYS)
    assert cal.holiday_coverage() == (2024, 2026)
    for year in (2024, 2025, 2026):
        assert sum(d.year == year for d in days) >= 14


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2024, 1, 26), "Republic Day"),
        (date(2024, 3, 29), "Good Friday"),
        (date(2024, 4, 11), "Id-Ul-Fitr"),
        (date(2024, 8, 15), "Independence Day"),
        (date(2024, 11, 1), "Diwali Laxmi Pujan"),
        (date(2024, 11, 20), "Maharashtra assembly elections"),
        (date(2025, 5, 1), "Maharashtra Day"),
        (date(2025, 10, 2), "Gandhi Jayanti"),
        (date(2025, 10, 21), "Diwali Laxmi Pujan"),
        (date(2025, 11, 5), "Guru Nanak"),
        (date(2025, 12, 25), "Christmas"),
        (date(2026, 3, 3), "Holi"),
    ],
)
def test_published_holidays_are_closed(day: date, name: str) -> None:
    assert not cal.is_trading_day(day)
    assert any(h.day == day and name in h.name for h in cal.NSE_HOLIDAYS)


def test_weekends_closed_and_ordinary_weekdays_open() -> None:
    assert not cal.is_trading_day(date(2025, 1, 4))  # Saturday
    assert not cal.is_trading_day(date(2025, 1, 5))  # Sunday
    assert cal.is_trading_day(date(2025, 1, 7))
    # A datetime is reduced to its calendar day rather than compared as a datetime.
    assert not cal.is_trading_day(pd.Timestamp("2024-01-26 10:00"))


def test_outside_coverage_only_the_weekend_rule_applies() -> None:
    assert cal.is_trading_day(date(2030, 1, 1))  # a Tuesday; 2030 holidays are not listed
    assert not cal.is_trading_day(date(2030, 1, 5))  # Saturday


def test_trading_days_is_inclusive_and_skips_holidays() -> None:
    got = cal.trading_days(date(2024, 11, 18), date(2024, 11, 22))
    assert got == [date(2024, 11, 18), date(2024, 11, 19), date(2024, 11, 21), date(2024, 11, 22)]
    assert cal.trading_days(date(2024, 11, 22), date(2024, 11, 18)) == []
    assert cal.trading_days(date(2024, 11, 20), date(2024, 11, 20)) == []


def test_previous_and_next_are_strict() -> None:
    assert cal.previous_trading_day(date(2024, 11, 21)) == date(2024, 11, 19)
    assert cal.next_trading_day(date(2024, 11, 19)) == date(2024, 11, 21)
    # Diwali 2025: Tue 21 and Wed 22 closed.
    assert cal.previous_trading_day(date(2025, 10, 23)) == date(2025, 10, 20)
    assert cal.next_trading_day(date(2025, 10, 17)) == date(2025, 10, 20)  # over a weekend


@given(covered_days)
def test_neighbouring_trading_days(d: date) -> None:
    nxt, prev = cal.next_trading_day(d), cal.previous_trading_day(d)
    assert prev < d < nxt
    assert cal.is_trading_day(nxt) and cal.is_trading_day(prev)
    assert cal.trading_days(prev + timedelta(days=1), nxt - timedelta(days=1)) == (
        [d] if cal.is_trading_day(d) else []
    )
    assert cal.previous_trading_day(nxt) == (d if cal.is_trading_day(d) else prev)
    assert cal.next_trading_day(prev) == (d if cal.is_trading_day(d) else nxt)


@given(covered_days, st.integers(min_value=0, max_value=60))
def test_trading_days_matches_the_predicate(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    expected = [start + timedelta(days=i) for i in range(span + 1)]
    assert cal.trading_days(start, end) == [d for d in expected if cal.is_trading_day(d)]


# --- sessions --------------------------------------------------------------------------------


def test_session_bounds_in_market_time() -> None:
    s = cal.session(date(2025, 1, 2))
    assert (s.pre_open, s.open, s.close) == (
        ist("2025-01-02 09:00"),
        ist("2025-01-02 09:15"),
        ist("2025-01-02 15:30"),
    )
    assert str(s.open.tz) == IST


@pytest.mark.parametrize("day", [date(2025, 1, 4), date(2024, 11, 20)])
def test_session_raises_on_closed_days(day: date) -> None:
    with pytest.raises(ValueError, match=str(day)):
        cal.session(day)


def test_session_before_the_timing_table_raises() -> None:
    with pytest.raises(ValueError, match="no session timings"):
        cal.session(date(2009, 6, 1))


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (ist("2025-01-02 09:05"), False),  # pre-open is not continuous trading
        (ist("2025-01-02 09:14:59.999"), False),
        (ist("2025-01-02 09:15"), True),
        (ist("2025-01-02 15:30"), True),  # the closing print counts
        (ist("2025-01-02 15:30:00.001"), False),
        (pd.Timestamp("2025-01-02 03:45", tz="UTC"), True),  # 09:15 IST
        (pd.Timestamp("2025-01-02 03:44", tz="UTC"), False),
        (pd.Timestamp("2025-01-01 23:00", tz="America/New_York"), True),  # 09:30 IST next day
        (ist("2024-11-20 11:00"), False),  # holiday
        (ist("2025-01-04 11:00"), False),  # Saturday
    ],
)
def test_in_session_bounds(ts: pd.Timestamp, expected: bool) -> None:
    assert cal.in_session(ts) is expected


def test_in_session_rejects_naive() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        cal.in_session(pd.Timestamp("2025-01-02 10:00"))
    with pytest.raises(ValueError, match="tz-aware"):
        cal.in_session_mask(pd.Series(pd.date_range("2025-01-02", periods=3, freq="h")))


def test_in_session_mask_matches_scalar_over_closed_and_open_days() -> None:
    idx = pd.date_range("2024-11-18", "2024-11-25", freq="7min", tz="UTC")
    mask = cal.in_session_mask(idx)
    assert mask.dtype == bool
    assert mask.tolist() == [cal.in_session(t) for t in idx]
    assert mask.any() and not mask.all()
    # A whole holiday is closed.
    on_holiday = idx.tz_convert(IST).date == date(2024, 11, 20)
    assert not mask[on_holiday].any()
    series = pd.Series(idx).where(np.arange(len(idx)) % 5 != 0)  # NaT every fifth row
    smask = cal.in_session_mask(series)
    assert not smask[series.isna().to_numpy()].any()
    assert (smask[series.notna().to_numpy()] == mask[series.notna().to_numpy()]).all()


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=3 * 366 * 86_400))
def test_in_session_mask_agrees_with_in_session(offset_s: int) -> None:
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(seconds=offset_s)
    assert cal.in_session_mask(pd.DatetimeIndex([ts]))[0] == cal.in_session(ts)


# --- expiry close and year fractions -----------------------------------------------------------


def test_expiry_close_is_1530_ist() -> None:
    close = cal.expiry_close(date(2025, 9, 30))
    assert close == ist("2025-09-30 15:30")
    assert close.tz_convert("UTC") == pd.Timestamp("2025-09-30 10:00", tz="UTC")


def test_year_fraction_scalar_act365() -> None:
    close = cal.expiry_close(date(2025, 9, 30))
    assert cal.year_fraction(close - pd.Timedelta(days=365), date(2025, 9, 30)) == pytest.approx(1)
    assert cal.year_fraction(close - pd.Timedelta(hours=6), date(2025, 9, 30)) == pytest.approx(
        6 / (365 * 24)
    )
    # Any timezone names the same instant.
    utc = (close - pd.Timedelta(days=73)).tz_convert("UTC")
    assert cal.year_fraction(utc, date(2025, 9, 30)) == pytest.approx(0.2)
    # Floored at zero after the close.
    assert cal.year_fraction(close + pd.Timedelta(minutes=1), date(2025, 9, 30)) == 0.0
    assert isinstance(cal.year_fraction(close, date(2025, 9, 30)), float)


def test_year_fraction_vectorized_equals_scalar() -> None:
    ts = pd.Series(pd.date_range("2025-09-01 03:45", periods=4000, freq="37min", tz="UTC"))
    exp_dates = [date(2025, 9, 2), date(2025, 9, 30), date(2025, 12, 30), date(2026, 3, 30)]
    expiry = pd.Series(pd.to_datetime(exp_dates * 1000))  # naive midnight datetime64[ns]
    got = cal.year_fraction(ts, expiry)
    assert isinstance(got, np.ndarray) and got.shape == (4000,)
    for i in range(0, 4000, 97):
        assert got[i] == pytest.approx(cal.year_fraction(ts[i], exp_dates[i % 4]), abs=1e-15)
    assert (got >= 0).all() and (got == 0).any()
    # A scalar on either side broadcasts.
    one_ts = cal.year_fraction(ts[0], expiry)
    assert one_ts[1] == pytest.approx(cal.year_fraction(ts[0], exp_dates[1]))
    one_exp = cal.year_fraction(ts, date(2026, 3, 30))
    assert one_exp[5] == pytest.approx(cal.year_fraction(ts[5], date(2026, 3, 30)))
    # Object arrays of dates and non-ns units are accepted too.
    as_dates = cal.year_fraction(ts, np.array(exp_dates * 1000, dtype=object))
    np.testing.assert_allclose(as_dates, got)
    np.testing.assert_allclose(cal.year_fraction(ts, expiry.astype("datetime64[s]")), got)


def test_year_fraction_nat_gives_nan() -> None:
    ts = pd.Series([ist("2025-09-01 10:00"), pd.NaT], dtype="datetime64[ns, Asia/Kolkata]")
    expiry = pd.Series(pd.to_datetime(["2025-09-30", "2025-09-30"]))
    got = cal.year_fraction(ts, expiry)
    assert np.isfinite(got[0]) and np.isnan(got[1])
    got = cal.year_fraction(ts[0], pd.Series(pd.to_datetime(["2025-09-30", None])))
    assert np.isfinite(got[0]) and np.isnan(got[1])


def test_year_fraction_rejects_naive_ts_and_tz_aware_expiry() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        cal.year_fraction(pd.Timestamp("2025-09-01 10:00"), date(2025, 9, 30))
    with pytest.raises(ValueError, match="tz-aware"):
        cal.year_fraction(pd.Series(pd.date_range("2025-09-01", periods=2)), date(2025, 9, 30))
    with pytest.raises(ValueError, match="naive calendar dates"):
        cal.year_fraction(
            ist("2025-09-01 10:00"), pd.Series(pd.date_range("2025-09-30", periods=2, tz=IST))
        )


@given(
    st.integers(min_value=0, max_value=2 * 366 * 86_400),
    st.lists(covered_days, min_size=1, max_size=20),
)
def test_year_fraction_vector_scalar_property(offset_s: int, exps: list[date]) -> None:
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(seconds=offset_s)
    vec = cal.year_fraction(pd.Series([ts] * len(exps)), pd.Series(pd.to_datetime(exps)))
    for v, e in zip(vec, exps, strict=True):
        assert v == pytest.approx(cal.year_fraction(ts, e), abs=1e-15)
        assert v >= 0
