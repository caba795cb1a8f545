"""Model registry: MLflow as the foundation, a production layer in the project's own tables.

- `schema`, `store`, `transitions`, `transactions`: versions, the production pointer, audited
  all-or-nothing transitions (SERIALIZABLE on Postgres), tenant-scoped lookups;
- `adapters`: framework serializers with sha256 + fingerprint verification;
- `locks`: one training job per (type, tenant), released if the process dies;
- `contracts`: validation contracts, promotion verdicts and shared metrics;
- `tracking`: a small wrapper around `mlflow.MlflowClient` (runs, versions, aliases).
Pure: nothing here imports dagster; mlflow, torch and the GBM libraries are imported lazily.
"""
