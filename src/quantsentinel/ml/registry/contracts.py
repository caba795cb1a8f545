"""Validation contracts: the per-model-type rules a candidate must meet to be promoted.

MLflow's promotion step is generic; it cannot know that a classifier must be calibrated or that a
bandit must not collapse to one arm. A `ValidationContract` (stored as JSON in `model_types`)
holds those rules, and `check_candidate` turns a paired evaluation (candidate and champion scored
on the same held-out slice) into a `Verdict` whose checks land in the audit row verbatim.

Validator parameters are passed through `ValidationContract.validator_params`, a mapping from
validator name to its keyword overrides, e.g. `{"calibration": {"max_ece": 0.03}}`. Defaults live
in `VALIDATOR_DEFAULTS`; an unknown validator or parameter name fails at construction, so a typo
cannot silently disable a gate.

The metric helpers at the bottom are the one way every model type computes its held-out metrics,
so a floor of "auc >= 0.55" means the same thing for every model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from types import MappingProxyType
from typing import Any

import numpy as np

from quantsentinel.ml.registry.metrics import expected_calibration_error

# Differences below this are float noise from decimal literals (0.219 + 0.005 != 0.224 in binary),
# not a real regression or improvement; metrics are O(1), so 1e-9 is far below anything meaningful.
_EPS = 1e-9

# Metrics where smaller is better unless a contract says otherwise: their floors are ceilings and
# a "regression" is an increase.
LOWER_IS_BETTER_METRICS = frozenset({"log_loss", "brier", "ece", "rmse", "mae", "mse"})


@dataclass(frozen=True)
class Verdict:
    """Outcome of a gate. Every "no" carries the first failing check's name and numbers."""

    passed: bool
    blocked_by: str | None
    reason: str
    checks: tuple[dict, ...]

    def to_json(self) -> dict:
        """JSON-ready form for the audit row (check values are already finite floats or None)."""
        return {
            "passed": self.passed,
            "blocked_by": self.blocked_by,
            "reason": self.reason,
            "checks": [dict(c) for c in self.checks],
        }


@dataclass(frozen=True)
class MetricRule:
    """A metric name and the direction in which it improves."""

    name: str
    higher_is_better: bool = True


@dataclass(frozen=True)
class EvaluationPayload:
    """Raw held-out outputs that custom validators inspect (metrics alone cannot show collapse)."""

    y_true: np.ndarray | None = None
    y_prob: np.ndarray | None = None
    actions: np.ndarray | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _finite(x: Any) -> float | None:
    """`x` as a float if it is a finite number, else None (NaN is not JSON and not evidence)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _check(
    name: str, passed: bool, value: Any, bound: Any, detail: str, skipped: bool = False
) -> dict:
    """One audit-ready check row; non-finite numbers become None so JSONB accepts the row."""
    return {
        "name": name,
        "passed": passed,
        "skipped": skipped,
        "value": _finite(value),
        "bound": _finite(bound) if bound is not None else None,
        "detail": detail,
    }


def _verdict(checks: list[dict]) -> Verdict:
    """Fold checks into a verdict; the first failure is the canonical reason."""
    for c in checks:
        if not c["passed"]:
            return Verdict(False, c["name"], c["detail"], tuple(checks))
    skipped = sum(c["skipped"] for c in checks)
    reason = f"all {len(checks)} checks passed ({skipped} skipped)"
    return Verdict(True, None, reason, tuple(checks))


# ---------------------------------------------------------------- validators
def _calibration(payload: EvaluationPayload, params: Mapping[str, Any]) -> tuple[bool, str, float]:
    if payload.y_true is None or payload.y_prob is None:
        return False, "calibration needs y_true and y_prob in the payload", math.nan
    p = np.asarray(payload.y_prob, dtype=float)
    if not np.isfinite(p).all():
        return False, "calibration cannot be measured: y_prob has non-finite values", math.nan
    ece = expected_calibration_error(payload.y_true, p, int(params["n_bins"]))
    bound = float(params["max_ece"])
    ok = ece <= bound + _EPS
    rel = "<=" if ok else ">"
    return ok, f"ECE {ece:.4f} {rel} bound {bound:.4f} ({params['n_bins']} bins)", ece


def _no_arm_collapse(
    payload: EvaluationPayload, params: Mapping[str, Any]
) -> tuple[bool, str, float]:
    if payload.actions is None or np.asarray(payload.actions).size == 0:
        return False, "no_arm_collapse needs a non-empty actions array in the payload", math.nan
    _, counts = np.unique(np.asarray(payload.actions).ravel(), return_counts=True)
    share = float(counts.max() / counts.sum())
    # Entropy is normalised by the number of arms the policy could choose (n_arms) when known:
    # normalising by the observed arms alone would call a policy that never tries 3 of 5 arms
    # perfectly diverse.
    k = int(params["n_arms"]) if params["n_arms"] is not None else counts.size
    freq = counts / counts.sum()
    entropy = float(-(freq * np.log(freq)).sum() / math.log(k)) if k > 1 else 0.0
    max_share, min_entropy = float(params["max_share"]), params["min_entropy"]
    if share > max_share + _EPS:
        return False, f"top arm share {share:.3f} > max {max_share:.3f}", share
    if min_entropy is not None and entropy < float(min_entropy) - _EPS:
        msg = f"normalised action entropy {entropy:.3f} < min {float(min_entropy):.3f}"
        return False, msg, share
    return True, f"top arm share {share:.3f} <= {max_share:.3f}, entropy {entropy:.3f}", share


def _no_nan_predictions(
    payload: EvaluationPayload, params: Mapping[str, Any]
) -> tuple[bool, str, float]:
    if payload.y_prob is None or np.asarray(payload.y_prob).size == 0:
        return False, "no predictions in the payload", math.nan
    bad = int((~np.isfinite(np.asarray(payload.y_prob, dtype=float))).sum())
    return bad == 0, f"{bad} non-finite of {np.asarray(payload.y_prob).size} predictions", bad


Validator = Callable[[EvaluationPayload, Mapping[str, Any]], tuple[bool, str, float]]
VALIDATORS: Mapping[str, Validator] = MappingProxyType(
    {
        "calibration": _calibration,
        "no_arm_collapse": _no_arm_collapse,
        "no_nan_predictions": _no_nan_predictions,
    }
)
# Every accepted parameter with its default; the first key is the bound reported in the check row.
VALIDATOR_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "calibration": {"max_ece": 0.05, "n_bins": 10},
        "no_arm_collapse": {"max_share": 0.8, "min_entropy": None, "n_arms": None},
        "no_nan_predictions": {},
    }
)


# ---------------------------------------------------------------- contract
@dataclass(frozen=True)
class ValidationContract:
    """Per-model-type promotion rules; see the module docstring for `validator_params`."""

    primary: MetricRule
    floors: Mapping[str, float] = field(default_factory=dict)
    required_metrics: tuple[str, ...] = ()
    secondary_tolerances: Mapping[str, float] = field(default_factory=dict)
    min_improvement: float = 0.0
    validators: tuple[str, ...] = ()
    max_shadow_divergence: float | None = None
    validator_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Extra metric names (beyond LOWER_IS_BETTER_METRICS) for which smaller is better.
    lower_is_better: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Fail at construction, not at promotion time: a misspelt validator would otherwise
        # mean a gate that never runs.
        unknown = [v for v in self.validators if v not in VALIDATORS]
        if unknown:
            raise ValueError(f"unknown validator(s) {unknown}; known: {sorted(VALIDATORS)}")
        for name, params in self.validator_params.items():
            if name not in self.validators:
                raise ValueError(f"validator_params given for {name!r}, not in validators")
            extra = set(params) - set(VALIDATOR_DEFAULTS[name])
            if extra:
                allowed = sorted(VALIDATOR_DEFAULTS[name])
                raise ValueError(f"unknown params {sorted(extra)} for {name!r}; allowed {allowed}")
        for label, m in (("floor", self.floors), ("tolerance", self.secondary_tolerances)):
            for k, v in m.items():
                if _finite(v) is None or (label == "tolerance" and v < 0):
                    raise ValueError(f"{label} for {k!r} must be a finite number >= 0: {v!r}")
        if self.min_improvement < 0 or (
            self.max_shadow_divergence is not None and self.max_shadow_divergence < 0
        ):
            raise ValueError("min_improvement and max_shadow_divergence must be >= 0")
        # Freeze the mappings so a contract shared between threads cannot be mutated in place.
        freeze = object.__setattr__
        freeze(self, "floors", MappingProxyType({k: float(v) for k, v in self.floors.items()}))
        tol = {k: float(v) for k, v in self.secondary_tolerances.items()}
        freeze(self, "secondary_tolerances", MappingProxyType(tol))
        vp = {k: MappingProxyType(dict(v)) for k, v in self.validator_params.items()}
        freeze(self, "validator_params", MappingProxyType(vp))
        for name in ("required_metrics", "validators", "lower_is_better"):
            freeze(self, name, tuple(getattr(self, name)))

    def higher_is_better(self, metric: str) -> bool:
        """Direction of `metric`: the primary's rule, then the contract's list, then defaults."""
        if metric == self.primary.name:
            return self.primary.higher_is_better
        return metric not in self.lower_is_better and metric not in LOWER_IS_BETTER_METRICS

    def params_for(self, validator: str) -> dict[str, Any]:
        """Defaults for `validator` overlaid with this contract's overrides."""
        return {**VALIDATOR_DEFAULTS[validator], **self.validator_params.get(validator, {})}

    def to_json(self) -> dict:
        """Plain-JSON form stored in the `model_types` table."""
        return {
            "primary": asdict(self.primary),
            "floors": dict(self.floors),
            "required_metrics": list(self.required_metrics),
            "secondary_tolerances": dict(self.secondary_tolerances),
            "min_improvement": self.min_improvement,
            "validators": list(self.validators),
            "max_shadow_divergence": self.max_shadow_divergence,
            "validator_params": {k: dict(v) for k, v in self.validator_params.items()},
            "lower_is_better": list(self.lower_is_better),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ValidationContract:
        """Inverse of `to_json`; unknown keys are refused rather than silently dropped."""
        known = {f.name for f in fields(cls)}
        if set(d) - known:
            raise ValueError(f"unknown contract keys {sorted(set(d) - known)}")
        kw = dict(d)
        kw["primary"] = MetricRule(**d["primary"])
        for name in ("required_metrics", "validators", "lower_is_better"):
            if name in kw:
                kw[name] = tuple(kw[name])
        return cls(**kw)

    def check_candidate(
        self,
        candidate_metrics: Mapping[str, float],
        champion_metrics: Mapping[str, float] | None,
        payload: EvaluationPayload | None = None,
    ) -> Verdict:
        """Run every gate and record every check; the first failure names the verdict.

        Order: required metrics (the primary is always required) -> floors -> beats champion on
        the primary -> secondary tolerances -> validators. Without a champion the comparisons
        are recorded as skipped (passed), since there is nothing to regress against.
        """
        checks: list[dict] = []
        cand = {k: _finite(v) for k, v in candidate_metrics.items()}
        champ = None
        if champion_metrics is not None:
            champ = {k: _finite(v) for k, v in champion_metrics.items()}
        required = dict.fromkeys((self.primary.name, *self.required_metrics))
        for m in required:
            state = "missing" if m not in candidate_metrics else "not finite"
            ok = cand.get(m) is not None
            detail = f"{m} = {cand[m]:.4g}" if ok else f"required metric {m} is {state}"
            checks.append(_check(f"required_metric:{m}", ok, cand.get(m), None, detail))
        for m, bound in self.floors.items():
            v, hib = cand.get(m), self.higher_is_better(m)
            kind, rel = ("floor", ">=") if hib else ("ceiling", "<=")
            ok = v is not None and (v >= bound - _EPS if hib else v <= bound + _EPS)
            shown = "missing/non-finite" if v is None else f"{v:.4g}"
            detail = f"{m} {shown} {'meets' if ok else 'fails'} {kind} {rel} {bound:.4g}"
            checks.append(_check(f"floor:{m}", ok, v, bound, detail))
        checks.append(self._beats_champion(cand, champ))
        for m, tol in self.secondary_tolerances.items():
            checks.append(self._tolerance(m, tol, cand.get(m), champ))
        for name in self.validators:
            params = self.params_for(name)
            bound = next(iter(params.values()), None)
            if payload is None:
                ok, detail, value = False, "no evaluation payload supplied", math.nan
            else:
                try:
                    ok, detail, value = VALIDATORS[name](payload, params)
                except ValueError as exc:  # malformed payload: a reasoned "no", not a crash
                    ok, detail, value = False, f"validator error: {exc}", math.nan
            checks.append(_check(f"validator:{name}", ok, value, bound, f"{name}: {detail}"))
        return _verdict(checks)

    def _beats_champion(self, cand: dict, champ: dict | None) -> dict:
        m, hib = self.primary.name, self.primary.higher_is_better
        name, c = f"beats_champion:{m}", cand.get(m)
        if champ is None:
            return _check(name, True, c, None, "skipped: no champion to beat", skipped=True)
        ch = champ.get(m)
        if c is None or ch is None:
            who = "candidate" if c is None else "champion"
            return _check(name, False, c, ch, f"{m} of the {who} is missing or non-finite")
        gain = c - ch if hib else ch - c
        # Strict: equal is not better, and a gain equal to min_improvement is not enough.
        ok = gain > self.min_improvement + _EPS
        rel = ">" if ok else "<="
        detail = (
            f"{m} {c:.4g} vs champion {ch:.4g}: improvement {gain:.4g} {rel} "
            f"required {self.min_improvement:.4g}"
        )
        # The bound is the primary value the candidate had to pass, in the metric's own units.
        bound = ch + self.min_improvement if hib else ch - self.min_improvement
        return _check(name, ok, c, bound, detail)

    def _tolerance(self, m: str, tol: float, c: float | None, champ: dict | None) -> dict:
        name = f"tolerance:{m}"
        if champ is None:
            return _check(name, True, c, tol, "skipped: no champion to regress against", True)
        ch = champ.get(m)
        if c is None or ch is None:
            who = "candidate" if c is None else "champion"
            return _check(name, False, c, tol, f"{m} of the {who} is missing or non-finite")
        regression = ch - c if self.higher_is_better(m) else c - ch
        ok = regression <= tol + _EPS
        verb = "within" if ok else ">"
        detail = (
            f"{m} {c:.4g} regressed by {max(regression, 0.0):.4g} {verb} tolerance {tol:.4g} "
            f"vs champion {ch:.4g}"
        )
        return _check(name, ok, c, tol, detail)

    def check_shadow(self, divergence: float) -> Verdict:
        """Shadow -> champion gate: shadow vs champion predictions on the same live inputs."""
        bound, v = self.max_shadow_divergence, _finite(divergence)
        name = "shadow_divergence"
        if v is None:
            # Even with no bound configured, a NaN divergence means the shadow log is broken.
            check = _check(name, False, None, bound, f"shadow divergence {divergence} not finite")
        elif bound is None:
            detail = f"skipped: divergence {v:.4g}, no max_shadow_divergence configured"
            check = _check(name, True, v, None, detail, skipped=True)
        else:
            ok = v <= bound + _EPS
            detail = f"shadow divergence {v:.4g} {'<=' if ok else '>'} max {bound:.4g}"
            check = _check(name, ok, v, bound, detail)
        return _verdict([check])


def divergence(champion_pred: Any, candidate_pred: Any, kind: str = "mean_abs") -> float:
    """How far two models' predictions on the same inputs differ.

    `mean_abs`: mean |a - b| (probabilities, forecasts); `max_abs`: the worst single input;
    `flip_rate`: share of inputs where the labels differ (classes, or directions via np.sign).
    """
    a, b = np.asarray(champion_pred).ravel(), np.asarray(candidate_pred).ravel()
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"need equal non-empty prediction arrays, got {a.shape} and {b.shape}")
    if kind == "flip_rate":
        return float(np.mean(a != b))
    if kind in ("mean_abs", "max_abs"):
        diff = np.abs(a.astype(float) - b.astype(float))
        return float(diff.mean() if kind == "mean_abs" else diff.max())
    raise ValueError(f"unknown divergence kind {kind!r}; use mean_abs, max_abs or flip_rate")


# ---------------------------------------------------------------- metrics
