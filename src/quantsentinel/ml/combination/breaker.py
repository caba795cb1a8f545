"""A circuit breaker per signal: closed / half-open / open (seed 001, loop 6).

The Beta posterior forgets over 14 days, so a signal that breaks today keeps most of its weight
for a week. The breaker reacts faster, and on evidence of a *change*, not on a level:

- closed -> open: Page's CUSUM on the hit sequence. Each resolved outcome adds the log
  likelihood ratio of "degraded" (hit rate `degraded_hit_rate`) against "healthy"
  (`healthy_hit_rate`): log(p_bad / p_good) for a hit (negative), log((1 - p_bad) /
  (1 - p_good)) for a miss (positive). S = max(0, S + llr); S > `threshold` trips the breaker.
  CUSUM is the sequential test with the shortest worst-case detection delay for a given false
  alarm rate (Lorden 1971), and unlike a rolling hit rate it does not need a full window before
  it can fire, nor forget a bad run just because it slid out of the window. Measured with the
  defaults (0.55 vs 0.45, threshold 3; benchmarks/bench_combination.py): a signal that turns into
  a 30% hitter trips after a median ~33 outcomes, a 40% one after ~60, a useless 50% one after
  ~170, and a healthy 55% one only after ~500 (10% not within 2,000): a false alarm every few
  months at 6 decisions a day, which the half-open test then clears. A lower threshold reacts
  faster and flaps more.
  `trip` lets an outside monitor (the anomaly detector) open it directly.
- open: weight 0 for `cooldown`; outcomes are still observed (the seed's "monitoring").
- open -> half-open: when the cool-down has elapsed. The transition is stamped at the instant the
  cool-down ended (opened_at + cooldown), whenever it is next looked at, so the log does not
  depend on when someone asked.
- half-open: the signal's weight is multiplied by `half_open_weight` (configurable; the seed's
  fixed 0.1 was a guess, 0.25 by default here). After `probation` resolved outcomes it closes if
  their hit rate is at least `recovery_hit_rate`; it reopens (a new cool-down) as soon as the
  misses make that rate unreachable: further degradation reopens it without waiting.

Every transition is a `Transition(signal, from_state, to_state, at, reason)`; the whole state
(configuration, per-signal statistics, log) round-trips through JSON.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from quantsentinel.ml.combination.types import (
    CombinationError,
    as_utc,
    check_names,
    check_positive,
    check_unit,
    elapsed_days,
    load_state,
)


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


@dataclass(frozen=True)
class Transition:
    """One state change of one signal's breaker, with why and when."""

    signal: str
    from_state: BreakerState
    to_state: BreakerState
    at: pd.Timestamp
    reason: str


@dataclass(frozen=True)
class BreakerConfig:
    """Breaker parameters (see the module docstring); `window` sizes the recent-hit-rate figure
    quoted in reasons, it does not drive transitions."""

    healthy_hit_rate: float = 0.55
    degraded_hit_rate: float = 0.45
    threshold: float = 3.0
    cooldown_hours: float = 24.0
    half_open_weight: float = 0.25
    probation: int = 10
    recovery_hit_rate: float = 0.5
    window: int = 20

    def __post_init__(self) -> None:
        good = check_unit(self.healthy_hit_rate, "healthy_hit_rate", open_low=True, open_high=True)
        bad = check_unit(self.degraded_hit_rate, "degraded_hit_rate", open_low=True, open_high=True)
        if bad >= good:
            raise CombinationError(
                f"degraded_hit_rate ({bad:g}) must be below healthy_hit_rate ({good:g})"
            )
        check_positive(self.threshold, "threshold")
        check_positive(self.cooldown_hours, "cooldown_hours")
        check_unit(self.half_open_weight, "half_open_weight", open_low=True)
        check_unit(self.recovery_hit_rate, "recovery_hit_rate")
        for label, value in (("probation", self.probation), ("window", self.window)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CombinationError(f"{label} must be an integer >= 1, got {value!r}")

    @property
    def llr_hit(self) -> float:
        return math.log(self.degraded_hit_rate / self.healthy_hit_rate)

    @property
    def llr_miss(self) -> float:
        return math.log((1 - self.degraded_hit_rate) / (1 - self.healthy_hit_rate))


class _Track:
    """One signal's breaker statistics (mutable; owned by CircuitBreaker)."""

    def __init__(self, window: int) -> None:
        self.state = BreakerState.CLOSED
        self.cusum = 0.0
        self.changed_at: pd.Timestamp | None = None  # when the current state was entered
        self.last_at: pd.Timestamp | None = None
        self.probation_hits = 0
        self.probation_seen = 0
        self.recent: deque[bool] = deque(maxlen=window)


class CircuitBreaker:
    """Per-signal closed / half-open / open breaker driven by a hit-rate CUSUM."""

    def __init__(self, names: Sequence[str], config: BreakerConfig | None = None) -> None:
        self.names = check_names(names)
        self.config = config if config is not None else BreakerConfig()
        if not isinstance(self.config, BreakerConfig):
            raise CombinationError(f"config must be a BreakerConfig, got {config!r}")
        self._tracks = {name: _Track(self.config.window) for name in self.names}
        self._log: list[Transition] = []

    def _track(self, name: str) -> _Track:
        if name not in self._tracks:
            raise CombinationError(
                f"unknown signal {name!r}; this breaker watches {', '.join(self.names)}"
            )
        return self._tracks[name]

    @property
    def transitions(self) -> list[Transition]:
        """Every transition so far, in the order they happened."""
        return list(self._log)

    def _cooldown_end(self, track: _Track) -> pd.Timestamp:
        assert track.changed_at is not None  # an open breaker always knows when it opened
        return track.changed_at + pd.Timedelta(hours=self.config.cooldown_hours)

    def state(self, name: str, at: Any = None) -> BreakerState:
        """The state in force at `at` (default: as last updated); pure, logs nothing."""
        track = self._track(name)
        if (
            at is not None
            and track.state is BreakerState.OPEN
            and as_utc(at) >= self._cooldown_end(track)
        ):
            return BreakerState.HALF_OPEN
        return track.state

    def multiplier(self, name: str, at: Any = None) -> float:
        """What the signal's normal weight is multiplied by: 1 closed, the test weight
        half-open, 0 open."""
        state = self.state(name, at)
        if state is BreakerState.CLOSED:
            return 1.0
        return self.config.half_open_weight if state is BreakerState.HALF_OPEN else 0.0

    def recent_hit_rate(self, name: str) -> float:
        """Hit rate over the last `window` observed outcomes (NaN before any)."""
        recent = self._track(name).recent
        return sum(recent) / len(recent) if recent else float("nan")

    def _move(self, name: str, to: BreakerState, at: pd.Timestamp, reason: str) -> None:
        track = self._tracks[name]
        self._log.append(Transition(name, track.state, to, at, reason))
        track.state, track.changed_at, track.cusum = to, at, 0.0
        track.probation_hits = track.probation_seen = 0

    def _advance_one(self, name: str, stamp: pd.Timestamp) -> None:
        track = self._tracks[name]
        if track.state is BreakerState.OPEN and stamp >= self._cooldown_end(track):
            self._move(
                name,
                BreakerState.HALF_OPEN,
                self._cooldown_end(track),
                f"cool-down of {self.config.cooldown_hours:g} h elapsed; testing at "
                f"{self.config.half_open_weight:g}x weight for {self.config.probation} outcomes",
            )

    def advance(self, at: Any) -> list[Transition]:
        """Log the time-driven transitions (open -> half-open) due by `at`; returns them."""
        stamp = as_utc(at)
        before = len(self._log)
        for name in self.names:
            self._advance_one(name, stamp)
        return self._log[before:]

    def trip(self, name: str, at: Any, reason: str) -> None:
        """Open `name`'s breaker now on an outside flag (e.g. the anomaly detector)."""
        track, stamp = self._track(name), as_utc(at)
        if not isinstance(reason, str) or not reason:
            raise CombinationError(f"trip needs a non-empty reason, got {reason!r}")
        self._advance_one(name, stamp)
        if track.state is not BreakerState.OPEN:
            self._move(name, BreakerState.OPEN, stamp, f"tripped: {reason}")

    def observe(self, name: str, hit: bool, at: Any) -> None:
        """One resolved outcome of signal `name` (hit: its sign matched the move)."""
        track = self._track(name)
        if not isinstance(hit, bool):
            raise CombinationError(f"hit for signal {name!r} must be a bool, got {hit!r}")
        stamp = as_utc(at)
        if track.last_at is not None:
            elapsed_days(track.last_at, stamp, f"at for signal {name!r}")
        track.last_at = stamp
        self._advance_one(name, stamp)
        track.recent.append(hit)
        cfg = self.config
        if track.state is BreakerState.CLOSED:
            track.cusum = max(0.0, track.cusum + (cfg.llr_hit if hit else cfg.llr_miss))
            if track.cusum > cfg.threshold:
                self._move(
                    name,
                    BreakerState.OPEN,
                    stamp,
                    f"degraded: hit-rate CUSUM {track.cusum:.2f} > {cfg.threshold:g} "
                    f"({cfg.healthy_hit_rate:g} vs {cfg.degraded_hit_rate:g}); recent hit rate "
                    f"{self.recent_hit_rate(name):.2f} over {len(track.recent)} outcomes",
                )
        elif track.state is BreakerState.HALF_OPEN:
            track.probation_seen += 1
            track.probation_hits += int(hit)
            needed = math.ceil(cfg.recovery_hit_rate * cfg.probation - 1e-12)
            left = cfg.probation - track.probation_seen
            score = f"{track.probation_hits}/{track.probation_seen}"
            if track.probation_hits + left < needed:
                self._move(
                    name,
                    BreakerState.OPEN,
                    stamp,
                    f"degraded again in half-open test: {score} hits cannot reach "
                    f"{needed}/{cfg.probation}",
                )
            elif track.probation_seen >= cfg.probation:
                self._move(
                    name,
                    BreakerState.CLOSED,
                    stamp,
                    f"recovered: {score} hits in half-open test (needed {needed})",
                )
        # OPEN: monitored only; the cool-down, not the outcomes, moves it on.

    # -- persistence -----------------------------------------------------------------------

    def to_json(self) -> str:
        tracks = {
            name: {
                "state": t.state.value,
                "cusum": t.cusum,
                "changed_at": None if t.changed_at is None else t.changed_at.isoformat(),
                "last_at": None if t.last_at is None else t.last_at.isoformat(),
                "probation_hits": t.probation_hits,
                "probation_seen": t.probation_seen,
                "recent": list(t.recent),
            }
            for name, t in self._tracks.items()
        }
        log = [
            {
                "signal": tr.signal,
                "from_state": tr.from_state.value,
                "to_state": tr.to_state.value,
                "at": tr.at.isoformat(),
                "reason": tr.reason,
            }
            for tr in self._log
        ]
        return json.dumps(
            {
                "kind": "circuit_breaker",
                "names": list(self.names),
                "config": asdict(self.config),
                "tracks": tracks,
                "transitions": log,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> CircuitBreaker:
        data = load_state(text, "circuit_breaker", "CircuitBreaker")
        try:
            out = cls(data["names"], BreakerConfig(**data["config"]))
            for name, saved in data["tracks"].items():
                track = out._track(name)
                track.state = _state(saved["state"])
                track.cusum = float(saved["cusum"])
                track.changed_at = _stamp(saved["changed_at"], f"{name}.changed_at")
                track.last_at = _stamp(saved["last_at"], f"{name}.last_at")
                track.probation_hits = int(saved["probation_hits"])
                track.probation_seen = int(saved["probation_seen"])
                track.recent.extend(bool(h) for h in saved["recent"])
            out._log = [
                Transition(
                    tr["signal"],
                    _state(tr["from_state"]),
                    _state(tr["to_state"]),
                    as_utc(tr["at"], "transition.at"),
                    tr["reason"],
                )
                for tr in data["transitions"]
            ]
        except (KeyError, TypeError) as exc:
            raise CombinationError(f"CircuitBreaker JSON is malformed: {exc!r}") from exc
        return out


def _state(value: Any) -> BreakerState:
    try:
        return BreakerState(value)
    except ValueError as exc:
        raise CombinationError(f"unknown breaker state {value!r}") from exc


def _stamp(value: Any, what: str) -> pd.Timestamp | None:
    return None if value is None else as_utc(value, what)
