"""The product's own Great Expectations expectation: whole rows that are copies of another row.

GX's ``ExpectCompoundColumnsToBeUnique`` computes its pandas metric with
``DataFrame.duplicated`` over every listed column, which factorizes each column: over a
partition's whole rows (20 columns, a million rows) that is most of the suite's time.
``ExpectRowsToBeDistinct`` gives the same verdict, counts and rendering from one 64-bit hash
per row (pandas' ``hash_pandas_object``), then checks the rows whose hashes repeat exactly,
so a hash collision never counts as a copy. Importing this module registers both the
expectation and its metric with GX (``mlops.validation.suite`` does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import great_expectations.expectations as gxe
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.metrics.map_metric_provider import MulticolumnMapMetricProvider
from great_expectations.expectations.metrics.map_metric_provider.multicolumn_condition_partial import multicolumn_condition_partial

if TYPE_CHECKING:
    import pandas as pd

#: The metric behind ``ExpectRowsToBeDistinct`` (its ``.condition``, ``.unexpected_count``, ... sub-metrics follow).
METRIC = "mlops_rows.distinct"


def copied_rows(frame: pd.DataFrame) -> pd.Series:
    """True for every row that has an exact copy in ``frame`` (all copies, the first too: ``duplicated(keep=False)``).

    Equal rows hash equally, so every copy is among the rows whose hash repeats; only those
    are compared value by value (nulls equal nulls, as in ``DataFrame.duplicated``).
    """
    import pandas as pd

    if frame.empty:
        return pd.Series(False, index=frame.index, dtype=bool)
    hashes = pd.util.hash_pandas_object(frame, index=False)
    candidates = hashes.duplicated(keep=False).to_numpy()
    copied = pd.Series(False, index=frame.index, dtype=bool)
    if candidates.any():
        copied[candidates] = frame[candidates].duplicated(keep=False).to_numpy()
    return copied


class RowsDistinct(MulticolumnMapMetricProvider):
    """Row-wise condition: the row over ``column_list`` has no exact copy in the batch (pandas only)."""

    condition_metric_name = METRIC
    condition_domain_keys = ("batch_id", "table", "column_list", "row_condition", "condition_parser", "ignore_row_if")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list, **kwargs):
        return ~copied_rows(column_list)


class ExpectRowsToBeDistinct(gxe.ExpectCompoundColumnsToBeUnique):
    """Expect the rows, over ``column_list``, to be unique together (``mostly`` of them); hashed, exact.

    Same arguments, result and Data Docs rendering as ``ExpectCompoundColumnsToBeUnique``;
    evaluated on pandas batches (the product validates partitions as DataFrames).
    """

    map_metric = METRIC

    class Config:
        title = "Expect rows to be distinct"
