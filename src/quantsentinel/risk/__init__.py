"""Risk: the core of the product (seed 001 §8, §10 wrong assumption 2).

Pure Python, no dagster: costs (effective-dated charge tables), structures (legs, payoffs, Greeks,
margin, tail hedges), opportunity scoring, the castle's walls, kill switches, and tenancy (tenants,
policies, the tenant-scoped database layer and the append-only audit log).
"""
