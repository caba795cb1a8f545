"""Signal combination (issue 6, layer 2): from layer-1 readings to one view per decision.

- `BayesianAveraging`: Beta-Bernoulli model averaging on each signal's hit rate, forgetting on a
  14-day half-life of elapsed time, a floor, the seed's design (weights.py);
- `CircuitBreaker`: closed / half-open / open per signal on a hit-rate CUSUM, with a
  configurable half-open test weight and a logged reason for every transition (breaker.py);
- `StackingCombiner`: Bayesian online logistic regression on the views, the combination that
  does not assume exactly one true signal (stacking.py);
- `evaluate_combiners`: strictly online scoring (hit rate, Brier, log-loss, P&L) and
  `simulate_scenario`: histories with a known truth to run it on (evaluate.py, scenarios.py).

Pure numpy/pandas (scipy.special imported lazily); no dagster.
"""

from quantsentinel.ml.combination.breaker import (
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    Transition,
)
from quantsentinel.ml.combination.evaluate import (
    CombinerScore,
    DecisionPoint,
    Evaluation,
    Outcome,
    default_combiners,
    evaluate_combiners,
    history_from_arrays,
)
from quantsentinel.ml.combination.scenarios import SCENARIOS, simulate_scenario
from quantsentinel.ml.combination.stacking import StackingCombiner
from quantsentinel.ml.combination.types import (
    Combination,
    CombinationError,
    Combiner,
    SignalReading,
)
from quantsentinel.ml.combination.weights import BayesianAveraging, BetaPosterior

__all__ = [
    "SCENARIOS",
    "BayesianAveraging",
    "BetaPosterior",
    "BreakerConfig",
    "BreakerState",
    "CircuitBreaker",
    "Combination",
    "CombinationError",
    "Combiner",
    "CombinerScore",
    "DecisionPoint",
    "Evaluation",
    "Outcome",
    "SignalReading",
    "StackingCombiner",
    "Transition",
    "default_combiners",
    "evaluate_combiners",
    "history_from_arrays",
    "simulate_scenario",
]
