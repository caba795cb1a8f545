"""Strategy bandit (issue 6, layer 3): regime-partitioned Thompson sampling over structures.

`StructureBandit` picks a structure per regime with a diversification penalty and forgetting;
`posteriors` holds the per-arm posteriors (Gaussian, Student-t, and the heavy-tail-aware
Dirichlet/bootstrap default, with the reasons for each); `simulate` measures their regret on
Gaussian and heavy-tailed reward streams. Pure numpy: no dagster, pandas only for `summary`.
"""

from quantsentinel.ml.bandit.posteriors import (
    MAX_BOOTSTRAP_OBSERVATIONS,
    POSTERIORS,
    ArmPosterior,
    BanditError,
    BootstrapPosterior,
    GaussianPosterior,
    Prior,
    StudentTPosterior,
)
from quantsentinel.ml.bandit.simulate import (
    ArmRewards,
    RegretResult,
    gaussian_rewards,
    gaussian_scenario,
    heavy_tailed_scenario,
    mixture_rewards,
    simulate_regret,
    student_t_rewards,
)
from quantsentinel.ml.bandit.thompson import Choice, StructureBandit, expected_best

__all__ = [
    "MAX_BOOTSTRAP_OBSERVATIONS",
    "POSTERIORS",
    "ArmPosterior",
    "ArmRewards",
    "BanditError",
    "BootstrapPosterior",
    "Choice",
    "GaussianPosterior",
    "Prior",
    "RegretResult",
    "StructureBandit",
    "StudentTPosterior",
    "expected_best",
    "gaussian_rewards",
    "gaussian_scenario",
    "heavy_tailed_scenario",
    "mixture_rewards",
    "simulate_regret",
    "student_t_rewards",
]
