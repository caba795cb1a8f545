"""The decide path's core (pure, no dagster): one snapshot in, one decision batch out, for every
active tenant. It sits above `ml` (signals, combination, bandit) and `risk` (structures, sizing,
castle) because it is the one place that uses both; neither of them imports it.
"""
