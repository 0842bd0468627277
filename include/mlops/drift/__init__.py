"""Data drift between a reference window and the current partition.

``detect_drift`` tests every feature (KS / two-sample chi-square for small samples,
normalised Wasserstein / Jensen-Shannon distance for large ones) and ``write_report``
writes the JSON, HTML and PNG report.
"""

from mlops.drift.report import write_report
from mlops.drift.stats import DriftResult, FeatureDrift, detect_drift, jensen_shannon, wasserstein_1d

__all__ = ["DriftResult", "FeatureDrift", "detect_drift", "jensen_shannon", "wasserstein_1d", "write_report"]
