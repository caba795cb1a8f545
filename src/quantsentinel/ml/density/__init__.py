"""Risk-neutral densities recovered from option chains (pure; no dagster).

`breeden_litzenberger` turns one expiry's chain into the density of the underlying at expiry,
q(K) = e^{rT} ∂²C/∂K² (Breeden & Litzenberger 1978), or refuses with a named `DensityError`.
`chain` does it for every (snapshot, expiry) of a CHAIN_COLUMNS frame, forward and T derived as
`market.surface` derives them, with a calendar-arbitrage check across expiries. `plots` draws
the figures (matplotlib imported lazily); `synthetic` and `heston` price chains whose true
density is known, for tests and benchmarks.
"""

from quantsentinel.ml.density.breeden_litzenberger import (
    DensityError,
    DensityReason,
    ImpliedDensity,
    implied_density,
)
from quantsentinel.ml.density.chain import DensityBatch, chain_densities
from quantsentinel.ml.density.plots import density_plot, density_vs_histogram

__all__ = [
    "DensityBatch",
    "DensityError",
    "DensityReason",
    "ImpliedDensity",
    "chain_densities",
    "density_plot",
    "density_vs_histogram",
    "implied_density",
]
