"""The learning loops' bookkeeping: readings queued once per snapshot, scored after the horizon
on the session clock, combiner and bandit state surviving a JSON round trip."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from quantsentinel.decide.learning import (
    LearningSettings,
    add_pending,
    load_bandits,
    load_combiner,
    new_bandit,
    resolve_pending,
    session_minutes_between,
)
from quantsentinel.ml.combination import SignalReading

NAMES = ("a", "b")
T0 = pd.Timestamp("2025-03-05T03:45:00Z")  # 09:15 IST


def _states():
    return {"direction": load_combiner("combiner:NIFTY:direction", None, "bma", NAMES)}


def test_a_retried_snapshot_is_queued_once() -> None:
    states = _states()
    readings = {"direction": [SignalReading("a", 0.5, 1.0), SignalReading("b", -0.2, 0.5)]}
    add_pending(states, readings, "NIFTY-1", T0, 22_000.0, 0.14)
    add_pending(states, readings, "NIFTY-1", T0, 22_000.0, 0.14)
    add_pending(states, readings, "NIFTY-2", T0 + pd.Timedelta(minutes=5), 22_010.0, 0.14)
    assert [p["snapshot"] for p in states["direction"].pending] == ["NIFTY-1", "NIFTY-2"]


def test_readings_resolve_after_the_horizon_against_the_move() -> None:
    states = _states()
    readings = {"direction": [SignalReading("a", 0.8, 1.0), SignalReading("b", -0.8, 1.0)]}
    add_pending(states, readings, "NIFTY-1", T0, 22_000.0, 0.14)
    assert resolve_pending(states, 22_100.0, T0 + pd.Timedelta(minutes=30), 60) == 0
    assert resolve_pending(states, 22_100.0, T0 + pd.Timedelta(minutes=60), 60) == 1
    combiner = states["direction"].combiner
    later = T0 + pd.Timedelta(minutes=61)
    # The index rose: "a" (bullish) was right, "b" (bearish) wrong.
    assert combiner.posterior("a", later).mean > 0.5 > combiner.posterior("b", later).mean
    assert states["direction"].pending == []


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        ("2025-03-05T03:45:00Z", "2025-03-05T04:45:00Z", 60.0),  # within one session
        ("2025-03-05T09:30:00Z", "2025-03-06T04:15:00Z", 30 + 30 + 75),  # 15:00 -> 09:45 IST
        ("2025-03-07T09:30:00Z", "2025-03-10T04:15:00Z", 30 + 30 + 75),  # over a weekend
        # Monday 15:00 -> Wednesday 10:00 IST: Tuesday's whole session and two nights.
        ("2025-03-03T09:30:00Z", "2025-03-05T04:30:00Z", 30 + 45 + 375 + 2 * 75),
    ],
)
def test_session_clock(start: str, end: str, minutes: float) -> None:
    assert session_minutes_between(pd.Timestamp(start), pd.Timestamp(end)) == minutes


def test_states_round_trip_through_json() -> None:
    settings = LearningSettings()
    states = _states()
    stored = (states["direction"].to_json(), 3)
    again = load_combiner("combiner:NIFTY:direction", stored, "bma", NAMES)
    assert again.version == 3 and again.pending == states["direction"].pending
    bandit = new_bandit(settings)
    text = json.dumps({"bandit": bandit.to_json(), "through": {"NIFTY": ["2025-03-13", "p1"]}})
    legacy = json.dumps({"bandit": bandit.to_json(), "through": ["2025-03-13", "p0"]})
    loaded = load_bandits({"bandit:old": (legacy, 2)}, ["old"], settings)
    assert loaded["old"].through == {"*": ["2025-03-13", "p0"]}  # one watermark for all
    loaded = load_bandits({"bandit:acme": (text, 7)}, ["acme", "new"], settings)
    assert loaded["acme"].version == 7 and loaded["acme"].through == {"NIFTY": ["2025-03-13", "p1"]}
    assert loaded["new"].version is None and loaded["new"].through == {}
    # Another signal set starts learning afresh instead of mixing two sets' hit rates.
    other = load_combiner("combiner:NIFTY:direction", stored, "bma", ("a", "b", "c"))
    assert other.combiner.names == ("a", "b", "c") and other.version == 3


def test_readings_are_queued_no_closer_than_the_horizon() -> None:
    """Overlapping horizons would count one market move many times."""
    states = _states()
    readings = {"direction": [SignalReading("a", 0.5, 1.0)]}
    for k in range(13):  # an hour of 5-minute snapshots, then one more
        at = T0 + pd.Timedelta(minutes=5 * k)
        add_pending(states, readings, f"NIFTY-{k}", at, 22_000.0, 0.14, spacing_minutes=60)
    assert [p["snapshot"] for p in states["direction"].pending] == ["NIFTY-0", "NIFTY-12"]
    # The spacing survives the state's round trip (a decide run per snapshot reloads it).
    again = load_combiner("k", (states["direction"].to_json(), 1), "bma", NAMES)
    assert again.last_queued == states["direction"].last_queued
