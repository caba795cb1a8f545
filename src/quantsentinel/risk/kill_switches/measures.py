"""The two measurements behind the kill switches that are more than one comparison: the
peak-to-trough drawdown of a P&L series, and the effective correlation of a book.

Effective correlation, the definition used here
------------------------------------------------
A book holds positions i with signed rupee exposures wᵢ on instruments with return volatilities σᵢ
and correlations ρᵢⱼ (from the covariance matrix Σ, σᵢ² = Σᵢᵢ). Position i's P&L is about wᵢrᵢ, so
the P&L streams of positions i and j are correlated by sᵢⱼ = sign(wᵢ)sign(wⱼ)ρᵢⱼ: a long and a
short on two instruments that move together offset each other (sᵢⱼ < 0), they do not cluster.

The book's effective correlation is the single correlation ρ̄ which, shared by every pair of
positions, gives the book its actual variance σ_p² = wᵀΣw:

    σ_p² = Σᵢ aᵢ² + ρ̄ Σ_{i≠j} aᵢaⱼ,   aᵢ = |wᵢ|σᵢ (position i's stand-alone risk)

    ρ̄ = (σ_p² − Σᵢ aᵢ²) / ((Σᵢ aᵢ)² − Σᵢ aᵢ²)

Equivalently ρ̄ is the average of the pairwise P&L correlations sᵢⱼ weighted by aᵢaⱼ: the
correlation of the pairs that carry the risk. It is the (σ_p² − Σwᵢ²σᵢ²)/(Σ_{i≠j} wᵢwⱼσᵢσⱼ) of
the brief with |wᵢ| in the denominator, which keeps it in [−1, 1] for any signs (|Σᵢⱼ| ≤ σᵢσⱼ);
with signed weights a hedged pair would read as a perfectly correlated cluster. It is undefined
for fewer than two positions that carry risk (None): one position is a concentration question,
which the castle's position-limit wall answers, not a correlation one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantsentinel.risk.kill_switches.definitions import KillSwitchError


@dataclass(frozen=True)
class Drawdown:
    """Peak-to-trough drawdown of cumulative P&L (rupees, >= 0), where the running total starts
    at 0 before the first period. `peak` and `trough` index the running total (0 = the start);
    `current` is the drawdown of the last point from its running peak."""

    max_drawdown: float
    peak: int
    trough: int
    peak_pnl: float
    trough_pnl: float
    current: float


def max_drawdown(pnl: np.ndarray | list[float] | tuple[float, ...]) -> Drawdown:
    """Largest fall of cumulative P&L from an earlier running peak."""
    values = np.asarray(pnl, dtype=float)
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise KillSwitchError("bad_observation", "P&L must be a 1-d series of finite numbers")
    cumulative = np.concatenate(([0.0], np.cumsum(values)))
    running_peak = np.maximum.accumulate(cumulative)
    drawdowns = running_peak - cumulative
    trough = int(np.argmax(drawdowns))
    peak = int(np.argmax(cumulative[: trough + 1]))
    return Drawdown(
        max_drawdown=float(drawdowns[trough]),
        peak=peak,
        trough=trough,
        peak_pnl=float(cumulative[peak]),
        trough_pnl=float(cumulative[trough]),
        current=float(drawdowns[-1]),
    )


def effective_correlation(covariance: np.ndarray, exposures: np.ndarray) -> float | None:
    """ρ̄ of the module docstring, clipped to [−1, 1] against rounding; None when fewer than two
    positions carry risk."""
    sigma_matrix = np.asarray(covariance, dtype=float)
    weights = np.asarray(exposures, dtype=float).reshape(-1)
    n = weights.size
    if sigma_matrix.shape != (n, n):
        raise KillSwitchError(
            "bad_observation", f"covariance must be {n}x{n} for {n} exposures: {sigma_matrix.shape}"
        )
    if not (np.all(np.isfinite(sigma_matrix)) and np.all(np.isfinite(weights))):
        raise KillSwitchError("bad_observation", "covariance and exposures must be finite")
    scale = max(float(np.max(np.abs(sigma_matrix), initial=0.0)), 1e-300)
    if not np.allclose(sigma_matrix, sigma_matrix.T, rtol=1e-9, atol=1e-12 * scale):
        raise KillSwitchError("bad_observation", "covariance must be symmetric")
    variances = np.diag(sigma_matrix)
    if np.any(variances < 0):
        raise KillSwitchError("bad_observation", "covariance has a negative variance")
    stand_alone = np.abs(weights) * np.sqrt(variances)
    own = float(np.sum(stand_alone**2))
    cross = float(np.sum(stand_alone)) ** 2 - own
    # Two or more positions with risk make `cross` at least 2 min(a)^2 > 0; below a relative
    # tolerance it is rounding of a book with one risky position.
    if cross <= 1e-12 * max(own, 1e-300):
        return None
    book_variance = float(weights @ sigma_matrix @ weights)
    return float(np.clip((book_variance - own) / cross, -1.0, 1.0))


def sample_covariance(returns: np.ndarray, lookback: int) -> np.ndarray:
    """Sample covariance (ddof=1) of the last `lookback` rows of a (days, instruments) array."""
    window = np.asarray(returns, dtype=float)[-lookback:]
    if window.shape[0] < 2:
        raise KillSwitchError("short_history", "covariance needs at least two days of returns")
    return np.atleast_2d(np.cov(window, rowvar=False, ddof=1))
