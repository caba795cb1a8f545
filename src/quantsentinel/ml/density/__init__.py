"""Risk-neutral densities recovered from option chains (pure; no dagster).

`breeden_litzenberger` turns one expiry's chain into the density of the underlying at expiry,
q(K) = e^{rT} ∂²C/∂K² (Breeden & Litzenberger 1978), or refuses with a named `DensityError`.
"""

from quantsentinel.ml.density.breeden_litzenberger import (
    DensityError,
    ImpliedDensity,
    implied_density,
)

__all__ = ["DensityError", "ImpliedDensity", "implied_density"]
