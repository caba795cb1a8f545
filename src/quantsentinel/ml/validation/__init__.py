"""Validation schemes for time-series models whose labels look into the future."""

from quantsentinel.ml.validation.purged_cv import PurgedKFold

__all__ = ["PurgedKFold"]
