from e2e.helpers import stack  # noqa: F401  (module-scoped fixture: own data folder and MLflow store per module)
