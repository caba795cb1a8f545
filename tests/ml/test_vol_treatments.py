"""HAR treatments: expiry-week flags on known NIFTY expiries, jump flags, and what each treatment
does to the fit on a process with injected, non-persistent jumps."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from quantsentinel.market import calendar
from quantsentinel.ml.vol.har import HARError, HARSpec, fit_har
from quantsentinel.ml.vol.treatments import (
    DEFAULT_DOWNWEIGHT,
    TREATMENTS,
    expiry_week_flags,
    fit_treated,
    har_inputs,
    jump_day_flags,
    treated_history,
)


def jump_process(n: int = 1200, seed: int = 1, p: float = 0.08) -> pd.DataFrame:
    """Persistent continuous variance C (AR(1) in logs) plus i.i.d. jumps J that do not persist.

    BV tracks C with small noise; `jump_detected` marks exactly the jump days, so the test
    isolates the treatments from the jump test's own errors.
    """
    rng = np.random.default_rng(seed)
    mu = np.log(1e-4)
    log_c = np.full(n, mu)
    for t in range(1, n):
        log_c[t] = mu + 0.95 * (log_c[t - 1] - mu) + 0.3 * rng.standard_normal()
    cont = np.exp(log_c + 0.2 * rng.standard_normal(n))
    jump_day = rng.random(n) < p
    jump = np.where(jump_day, 4.0 * np.exp(mu) * rng.exponential(1.0, n), 0.0)
    return pd.DataFrame(
        {
            "realized_variance": cont + jump,
            "bipower_variation": cont * np.exp(0.05 * rng.standard_normal(n)),
            "jump_detected": pd.array(jump_day, dtype="boolean"),
            "expiry_week": False,
        },
        index=pd.bdate_range("2015-01-01", periods=n, name="date"),
    )


@pytest.fixture(scope="module")
def jumpy() -> pd.DataFrame:
    return jump_process()


# --- flags ---------------------------------------------------------------------------------------


def test_expiry_week_flags_on_known_nifty_monthly_expiries() -> None:
    days = pd.Index(calendar.trading_days(date(2024, 1, 1), date(2024, 2, 29)))
    flags = expiry_week_flags(days, "NIFTY")
    # Monthly expiry Thu 2024-01-25; 2024-01-22 was an exchange holiday, so the five trading
    # days reach back to the 18th. February's monthly: Thu 2024-02-29.
    expected = [date(2024, 1, d) for d in (18, 19, 23, 24, 25)]
    expected += [date(2024, 2, d) for d in (23, 26, 27, 28, 29)]
    assert list(flags[flags].index) == expected
    assert flags.index.equals(days) and flags.dtype == bool


def test_expiry_week_flags_follow_the_expiry_day_rules_and_holidays() -> None:
    # Quarterly Thu 2024-12-26 with the 25th a holiday; Tuesday expiries from September 2025.
    days = pd.DatetimeIndex(
        [pd.Timestamp(d) for d in calendar.trading_days(date(2024, 12, 16), date(2024, 12, 31))]
        + [pd.Timestamp(d) for d in calendar.trading_days(date(2025, 9, 19), date(2025, 10, 3))]
    )
    flags = expiry_week_flags(days, "NIFTY")
    got = [d.date() for d in flags[flags].index]
    assert got == [date(2024, 12, d) for d in (19, 20, 23, 24, 26)] + [
        date(2025, 9, d) for d in (24, 25, 26, 29, 30)
    ]


def test_counting_weekly_expiries_flags_every_nifty_day() -> None:
    # Why weeklies are not in the default: one per week tiles the calendar.
    days = pd.Index(calendar.trading_days(date(2024, 3, 1), date(2024, 6, 28)))
    every = expiry_week_flags(days, "NIFTY", cycles=("weekly", "monthly", "quarterly"))
    assert every.all()
    assert 0.15 < expiry_week_flags(days, "NIFTY").mean() < 0.35


def test_expiry_week_flags_bad_input() -> None:
    days = pd.Index([date(2024, 1, 25)])
    with pytest.raises(ValueError, match="NOPE"):
        expiry_week_flags(days, "NOPE")
    saturday = expiry_week_flags(pd.Index([date(2024, 1, 20)]), "NIFTY")
    assert not saturday.iloc[0]  # not a trading day: never an expiry-week day
    assert expiry_week_flags(pd.Index([]), "NIFTY").empty


def test_jump_day_flags_treat_na_as_no_jump() -> None:
    m = pd.DataFrame({"jump_detected": pd.array([True, pd.NA, False], dtype="boolean")})
    assert jump_day_flags(m).tolist() == [True, False, False]
    with pytest.raises(HARError) as err:
        jump_day_flags(pd.DataFrame({"x": [1.0]}))
    assert err.value.reason == "missing_input"


# --- inputs per treatment ------------------------------------------------------------------------


def test_har_inputs_per_treatment(jumpy: pd.DataFrame) -> None:
    m = jumpy.copy()
    m.loc[m.index[:30], "expiry_week"] = True
    none = har_inputs(m, "none", spec=HARSpec(form="rv", jumps="cj"))
    assert none.weights is None and none.bv is None and none.spec.jumps == "none"
    assert none.spec.form == "rv"  # the base spec's other choices are kept

    dw = har_inputs(m, "downweight", downweight=0.25)
    flagged = m["expiry_week"].to_numpy() | m["jump_detected"].to_numpy(bool)
    assert np.array_equal(dw.weights.to_numpy(), np.where(flagged, 0.25, 1.0))

    cj = har_inputs(m, "cj")
    jd = m["jump_detected"].to_numpy(bool)
    assert cj.spec.jumps == "cj"
    assert np.array_equal(cj.bv.to_numpy()[jd], m["bipower_variation"].to_numpy()[jd])
    assert np.array_equal(cj.bv.to_numpy()[~jd], m["realized_variance"].to_numpy()[~jd])
    hist = treated_history(m, "cj")
    assert list(hist.columns) == ["realized_variance", "bipower_variation"]
    assert hist["bipower_variation"].equals(cj.bv)
    assert list(treated_history(m, "downweight").columns) == ["realized_variance"]


def test_har_inputs_bad_input(jumpy: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"none.*downweight.*cj"):
        har_inputs(jumpy, "jumpfree")
    no_expiry = jumpy.drop(columns="expiry_week")
    with pytest.raises(HARError) as err:
        har_inputs(no_expiry, "downweight")  # no column and no underlying to compute it from
    assert err.value.reason == "missing_input"
    with pytest.raises(HARError) as err:
        har_inputs(jumpy, "downweight", downweight=0.0)
    assert err.value.reason == "bad_weights"
    with pytest.raises(HARError) as err:
        har_inputs(jumpy.drop(columns="bipower_variation"), "none")
    assert err.value.reason == "missing_input"
    with pytest.raises(HARError) as err:
        har_inputs(jumpy.iloc[::-1], "none")
    assert err.value.reason == "missing_input"


def test_downweight_computes_expiry_flags_from_the_underlying() -> None:
    days = pd.DatetimeIndex(calendar.trading_days(date(2024, 1, 1), date(2024, 12, 31)))
    m = jump_process(len(days)).drop(columns="expiry_week").set_axis(days)
    w = har_inputs(m, "downweight", underlying="NIFTY").weights
    expected = expiry_week_flags(days, "NIFTY").to_numpy() | m["jump_detected"].to_numpy(bool)
    assert np.array_equal(w.to_numpy() < 1.0, expected)


# --- effect on the fit ---------------------------------------------------------------------------


def test_har_cj_separates_persistent_continuous_part_from_jumps(jumpy: pd.DataFrame) -> None:
    plain = fit_treated(jumpy, "none")
    cj = fit_treated(jumpy, "cj")
    # Jumps that do not persist inflate yesterday's RV without raising today's: plain HAR
    # attenuates the daily coefficient; HAR-CJ gives the continuous part its persistence back
    # (ABD 2007), the jump terms carry no significant predictive power, and the fit improves.
    assert cj.params["c_1"] > plain.params["rv_1"] + 0.1
    assert all(abs(cj.tvalues[f"j_{k}"]) < 2.5 for k in (1, 5, 22))
    assert cj.rsquared > plain.rsquared + 0.05


def test_downweight_changes_the_fit_as_wls(jumpy: pd.DataFrame) -> None:
    plain = fit_treated(jumpy, "none")
    down = fit_treated(jumpy, "downweight")
    # Jump-day targets are the large residuals; down-weighting them lowers the residual variance
    # per unit weight and moves the coefficients. Weight 1 is plain OLS exactly.
    assert down.sigma2 < 0.9 * plain.sigma2
    assert not np.allclose(down.params, plain.params, rtol=1e-3)
    unit = fit_treated(jumpy, "downweight", downweight=1.0)
    assert np.allclose(unit.params, plain.params, rtol=1e-10)
    inputs = har_inputs(jumpy, "downweight")
    direct = fit_har(inputs.rv, inputs.spec, weights=inputs.weights)
    assert np.allclose(direct.params, down.params)
    assert DEFAULT_DOWNWEIGHT == 0.5


def test_treated_forecasts_are_positive_and_distinct(jumpy: pd.DataFrame) -> None:
    fcs = {
        t: fit_treated(jumpy, t).forecast(treated_history(jumpy, t), (1, 5))["rv_forecast"]
        for t in TREATMENTS
    }
    assert all((f > 0).all() for f in fcs.values())
    assert not np.allclose(fcs["none"], fcs["cj"])
