"""Expectation suites generated from a dataset config.

Defaults, each tightened or relaxed by the config's ``validation`` section:

* schema: exactly the declared columns (timestamp, features, the target only when labels come
  with the partition (``labels.delay_days`` 0), the row key) and ``extra_columns``; with
  ``allow_extra_columns`` other columns may come along;
* row key columns: never null;
* row count between ``min_rows`` and ``max_rows``;
* duplicates: each combination of ``key_columns`` at most once; rows that are exact copies
  of another row (over the declared and extra columns) at most ``max_duplicate_fraction``
  of the partition (every copy counts, the first one too; ``ExpectRowsToBeDistinct``, the
  hashed form of GX's compound-uniqueness check, ``mlops.validation.expectations``);
* timestamp: never null and inside the partition's data interval (suite parameters
  ``interval_start`` / ``interval_end``, so one stored suite serves every interval and
  concurrent runs never overwrite each other's bounds);
* target (when in the partition): never null; in ``{0, 1}`` (or ``validation.categories[target]``)
  for classification; inside ``validation.ranges[target]`` when declared (e.g. a price that is
  never negative);
* numeric features: a numeric dtype, at most ``max_null_fraction`` nulls, inside ``ranges``;
* categorical features: at most ``max_null_fraction`` nulls, values in ``categories`` for
  all but ``max_unknown_category_fraction`` of the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.config import DatasetConfig
from mlops.sources.base import Interval

if TYPE_CHECKING:
    import great_expectations as gx

NUMERIC_TYPES = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Float32",
    "Float64",
    "bool",
]


def suite_name(config: DatasetConfig) -> str:
    return f"{config.name}.partition"


def interval_parameters(interval: Interval) -> dict[str, str]:
    """Values of the suite parameters for one partition."""
    return {"interval_start": interval.start.isoformat(), "interval_end": interval.end.isoformat()}


def build_suite(config: DatasetConfig) -> gx.ExpectationSuite:
    """The partition suite of a dataset (pure: no context needed); see ``interval_parameters``."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    from mlops.validation.expectations import ExpectRowsToBeDistinct

    v = config.validation
    schema = [*config.partition_columns, *(c for c in v.extra_columns if c not in config.partition_columns)]
    exps: list = [
        gxe.ExpectTableColumnsToMatchSet(column_set=schema, exact_match=not v.allow_extra_columns),
        gxe.ExpectTableRowCountToBeBetween(min_value=v.min_rows, max_value=v.max_rows),
        gxe.ExpectColumnValuesToNotBeNull(column=config.timestamp_column),
        gxe.ExpectColumnValuesToBeBetween(
            column=config.timestamp_column,
            min_value={"$PARAMETER": "interval_start"},
            max_value={"$PARAMETER": "interval_end"},
            strict_max=True,
        ),
        gxe.ExpectColumnValuesToNotBeNull(column=config.target),
    ]
    if config.task == "classification":
        labels = v.categories.get(config.target, [0, 1])
        exps.append(gxe.ExpectColumnValuesToBeInSet(column=config.target, value_set=labels))
    else:
        exps.append(gxe.ExpectColumnValuesToBeInTypeList(column=config.target, type_list=NUMERIC_TYPES))
    if config.target in v.ranges:
        lo, hi = v.ranges[config.target]
        exps.append(gxe.ExpectColumnValuesToBeBetween(column=config.target, min_value=lo, max_value=hi))
    if config.labels.delay_days:  # late labels: the partition has no target; labels are checked when they arrive
        exps = [e for e in exps if getattr(e, "column", None) != config.target]
    # Row keys join labels and predictions: never null (their uniqueness is checked where they are used).
    exps += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in config.row_key if c != config.timestamp_column]
    for col in config.features:
        allowed_nulls = v.null_fraction.get(col, v.max_null_fraction)
        if allowed_nulls < 1:
            exps.append(gxe.ExpectColumnValuesToNotBeNull(column=col, mostly=round(1 - allowed_nulls, 6)))
    for col in config.numeric_features:
        exps.append(gxe.ExpectColumnValuesToBeInTypeList(column=col, type_list=NUMERIC_TYPES))
        if col in v.ranges:
            lo, hi = v.ranges[col]
            exps.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=lo, max_value=hi))
    if len(v.key_columns) == 1:
        exps.append(gxe.ExpectColumnValuesToBeUnique(column=v.key_columns[0]))
    elif v.key_columns:
        exps.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(v.key_columns)))
    if v.max_duplicate_fraction < 1:
        exps.append(ExpectRowsToBeDistinct(column_list=schema, mostly=round(1 - v.max_duplicate_fraction, 6)))
    for col in config.categorical_features:
        if col in v.categories:
            exps.append(gxe.ExpectColumnValuesToBeInSet(column=col, value_set=list(v.categories[col]), mostly=round(1 - v.max_unknown_category_fraction, 6)))
    return gx.ExpectationSuite(name=suite_name(config), expectations=exps)
