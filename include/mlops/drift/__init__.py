"""Data drift between a reference window and the current partition.

``detect_drift`` tests every feature (a two-sample test and an effect size, both needed
for a verdict; a separate check of null rates) and ``write_report`` writes the JSON, HTML
and PNG report. The method and its calibration are in ``docs/drift.md``.
"""

from mlops.drift.columns import as_categories
from mlops.drift.distance import wasserstein_1d, wasserstein_ks
from mlops.drift.report import write_report
from mlops.drift.shares import compare_shares
from mlops.drift.stats import DriftResult, FeatureDrift, detect_drift

__all__ = ["DriftResult", "FeatureDrift", "as_categories", "compare_shares", "detect_drift", "wasserstein_1d", "wasserstein_ks", "write_report"]
