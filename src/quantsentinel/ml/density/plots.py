"""Figures of implied densities, for MLflow artifacts and notebooks (matplotlib, Agg, lazy).

Why these two: a density is judged by eye against something independent - realised outcomes
(a histogram of simulated or historical S_T) or, on a synthetic chain, the model's own density.
`density_vs_histogram` is the "density vs histogram" artifact: recovered vs known model density,
with a histogram of samples when there are any. matplotlib is imported inside the functions,
on an Agg canvas, so importing this package costs nothing and works without a display.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from quantsentinel.ml.density.breeden_litzenberger import ImpliedDensity

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Percentiles marked on every plot: the tails a risk view asks about, and the median.
PERCENTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _figure() -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A bare Figure on its own Agg canvas, not pyplot: no global backend switch and no figure
    # registry, so nothing leaks between asset runs and no display is ever needed.
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _mark_percentiles(ax: Axes, density: ImpliedDensity) -> None:
    for p in PERCENTILES:
        x = density.quantile(p)
        ax.axvline(x, color="grey", linestyle=":", linewidth=0.8)
        ax.annotate(
            f"{100 * p:g}%",
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=7,
            va="top",
            ha="right",
        )
    ax.axvline(density.forward, color="black", linewidth=1.0, label=f"F = {density.forward:,.0f}")


def density_plot(
    density: ImpliedDensity, *, title: str, samples: np.ndarray | None = None
) -> Figure:
    """The implied density of S_T, percentiles and forward marked, over a sample histogram.

    `samples` (e.g. simulated or realised S_T) are histogrammed as a density on the same axis,
    restricted to the density's grid, so the two shapes are directly comparable.
    """
    fig, ax = _figure()
    if samples is not None:
        _histogram(ax, density, samples)
    ax.plot(density.strikes, density.density, color="C0", linewidth=1.8, label="implied density")
    _mark_percentiles(ax, density)
    _finish(ax, title)
    return fig


def density_vs_histogram(
    recovered: ImpliedDensity,
    *,
    true_pdf: Callable[[np.ndarray], np.ndarray] | None = None,
    samples: np.ndarray | None = None,
    title: str = "implied density vs model",
) -> Figure:
    """Recovered density against the known model's density and/or a histogram of its samples.

    `true_pdf` is evaluated on the recovered grid and renormalised there, because the
    recovered density is conditional on S_T inside the quoted strikes; the curves then differ
    only by recovery error. The title carries the L1 distance of the two curves.
    """
    if true_pdf is None and samples is None:
        raise ValueError("give true_pdf, samples or both")
    fig, ax = _figure()
    if samples is not None:
        _histogram(ax, recovered, samples)
    x = recovered.strikes
    if true_pdf is not None:
        truth = np.asarray(true_pdf(x), dtype=float)
        truth = truth / np.trapezoid(truth, x)
        l1 = float(np.trapezoid(np.abs(recovered.density - truth), x))
        ax.plot(x, truth, color="C1", linewidth=1.4, linestyle="--", label="model density")
        title = f"{title} (L1 {l1:.4f})"
    ax.plot(x, recovered.density, color="C0", linewidth=1.8, label="recovered (B-L)")
    _mark_percentiles(ax, recovered)
    _finish(ax, title)
    return fig


def _histogram(ax: Axes, density: ImpliedDensity, samples: np.ndarray) -> None:
    values = np.asarray(samples, dtype=float).ravel()
    lo, hi = density.strikes[0], density.strikes[-1]
    inside = values[np.isfinite(values) & (values >= lo) & (values <= hi)]
    if inside.size:
        ax.hist(inside, bins=60, range=(lo, hi), density=True, color="C2", alpha=0.35,
                label=f"samples ({inside.size:,} in range)")  # fmt: skip


def _finish(ax: Axes, title: str) -> None:
    ax.set_title(title)
    ax.set_xlabel("S_T (index points)")
    ax.set_ylabel("density per point")
    ax.legend(fontsize=8, loc="upper left")
    ax.figure.tight_layout()
