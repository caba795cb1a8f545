"""Chain snapshot validation: schema, tabular rules, freshness and static no-arbitrage.

Great Expectations evaluates the tabular rules (imported lazily: it costs seconds); the same
rules have a pandas path for speed and as a cross-check. Session, staleness and no-arbitrage are
project code. A snapshot with any violation is rejected whole, with every reason it broke.
"""

from quantsentinel.market.validation.arbitrage import arbitrage_violations
from quantsentinel.market.validation.freshness import freshness_violations
from quantsentinel.market.validation.types import (
    EMPTY_SNAPSHOT,
    UNKNOWN_SNAPSHOT,
    Reason,
    ValidationConfig,
    ValidationReport,
    Violation,
)
from quantsentinel.market.validation.validate import (
    build_expectation_suite,
    tabular_violations,
    validate_snapshots,
)

__all__ = [
    "EMPTY_SNAPSHOT",
    "UNKNOWN_SNAPSHOT",
    "Reason",
    "ValidationConfig",
    "ValidationReport",
    "Violation",
    "arbitrage_violations",
    "build_expectation_suite",
    "freshness_violations",
    "tabular_violations",
    "validate_snapshots",
]
