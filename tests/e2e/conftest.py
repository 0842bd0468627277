from e2e.helpers import stack  # noqa: F401  (module-scoped fixture for every e2e test)
