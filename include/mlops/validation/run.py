"""Run a partition's suite as a Great Expectations checkpoint and build Data Docs.

The GX project lives in ``Settings.gx_dir`` (a file context): suites, validation results
and the local Data Docs site (``Settings.data_docs_dir``, GX's default place in the context).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.config import DatasetConfig
from mlops.lake import disk_full_error
from mlops.settings import DATA_DOCS_SITE
from mlops.sources.base import Interval
from mlops.validation.suite import build_suite, interval_parameters

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def _context(gx_dir: Path):
    """File context whose project folder is ``gx_dir`` (GX names it ``gx`` under the root)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    if gx_dir.name != "gx":
        raise ValueError(f"the GX project folder must be named 'gx', got {gx_dir}")
    gx_dir.parent.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(gx_dir.parent))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    # Nothing phones home. GX 1.24 sends no usage statistics (the flag is kept for its config);
    # what reaches out is the Data Docs HTML (CDN scripts, a logo URL carrying the context id),
    # which the Models page serves rewritten and sandboxed (mlops.ui.datadocs).
    context.variables.analytics_enabled = False
    return context


def _summarise(result: Any, columns: set[str]) -> list[dict]:
    failed = []
    for run_result in result.run_results.values():
        for r in run_result.results:
            if r.success:
                continue
            cfg = r.expectation_config
            kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
            details = {
                k: r.result.get(k)
                for k in ("observed_value", "unexpected_count", "element_count", "unexpected_percent", "partial_unexpected_list", "details")
                if r.result.get(k) is not None
            }
            if kwargs.get("column") and kwargs["column"] not in columns:
                details = {"missing_column": True}
            absent = [c for c in kwargs.get("column_list") or [] if c not in columns]
            if absent:
                details = {"missing_columns": absent}
            raised = _exception_message(r.exception_info)
            if not details and raised:
                details = {"exception": raised}  # GX could not evaluate it, e.g. a range check on a column of text
            partial = details.get("partial_unexpected_list")
            if partial is not None and all(v is None or v != v for v in partial):
                details.pop("partial_unexpected_list")  # only nulls: the count says it all
            failed.append(
                {
                    "expectation": cfg.type,
                    "column": kwargs.get("column"),
                    "expected": {k: v for k, v in kwargs.items() if k != "column"},
                    "details": details,
                }
            )
    return failed


def _exception_message(info: Any) -> str | None:
    """The last line of the error GX met while evaluating an expectation (its info is flat or keyed by metric)."""
    if not isinstance(info, dict):
        return None
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception") or entry.get("exception_message"):
            lines = str(entry.get("exception_message") or "an error").strip().splitlines() or ["an error"]
            return lines[-1][:300]
    return None


def describe_failure(item: dict) -> str:
    """One line per failed expectation: which, where, expected, found."""
    column_list = item["expected"].get("column_list")
    if item.get("column"):
        where = f"column {item['column']!r}"
    elif column_list:
        where = f"columns {list(column_list)}" if len(column_list) <= 6 else f"whole rows ({len(column_list)} columns)"
    else:
        where = "table"
    d = item["details"]
    if column_list and "unexpected_count" in d and "element_count" in d:
        mostly = item["expected"].get("mostly")
        allowed = "each combination once" if mostly in (None, 1, 1.0) else f"at most {round((1 - mostly) * 100, 4)} % of rows"
        return f"{item['expectation']} on {where}: {d['unexpected_count']} of {d['element_count']} rows share their values with another row; expected {allowed}"
    elif d.get("missing_columns"):
        found = f"the column(s) {d['missing_columns']} are missing"
    elif "unexpected_count" in d and "element_count" in d:
        found = f"{d['unexpected_count']} of {d['element_count']} values violate it"
        if d.get("partial_unexpected_list"):
            found += f" (e.g. {d['partial_unexpected_list'][:3]})"
    elif "details" in d and isinstance(d["details"], dict) and d["details"].get("mismatched"):
        found = f"mismatched columns {d['details']['mismatched']}"
    elif d.get("missing_column"):
        found = "the column is missing"
    elif "observed_value" in d:
        found = f"observed {d['observed_value']!r}"
    elif d.get("exception"):
        found = f"could not be evaluated ({d['exception']})"
    else:
        found = "failed (see Data Docs)"
    expected = {k: v for k, v in item["expected"].items() if v is not None and k not in ("result_format", "meta", "column_list")}
    return f"{item['expectation']} on {where}: {found}; expected {expected or 'no violations'}"


def _comparable(suite) -> list[dict]:
    """A suite's expectations without the ids GX assigns when it stores them."""
    out = []
    for e in suite.expectations:
        d = e.configuration.to_json_dict()
        d.pop("id", None)
        out.append(d)
    return out


def _checkpoint(context, config: DatasetConfig):
    """The dataset's checkpoint, saved only when the suite or its wiring changed.

    Validating many partitions (a training window, a backfill) then writes nothing but
    results, and concurrent runs read identical objects instead of rewriting them. The
    checkpoint has no actions: ``validate_frame`` builds the result's Data Docs page itself.
    """
    import great_expectations as gx

    if "mlops_lake" in context.data_sources.all():
        source = context.data_sources.get("mlops_lake")
    else:
        source = context.data_sources.add_or_update_pandas(name="mlops_lake")
    try:
        asset = source.get_asset(config.name)
    except LookupError:
        asset = source.add_dataframe_asset(name=config.name)
    try:
        batch_def = asset.get_batch_definition("partition")
    except (KeyError, LookupError):
        batch_def = asset.add_batch_definition_whole_dataframe("partition")
    wanted = build_suite(config)
    try:
        stored = context.suites.get(wanted.name)
        same = _comparable(stored) == _comparable(wanted)
    except Exception:  # not stored yet, or stored by another GX version
        stored, same = None, False
    suite = stored if same else context.suites.add_or_update(wanted)
    name = f"{config.name}.partition"
    try:
        checkpoint = context.checkpoints.get(name)
        # An earlier version stored this checkpoint with GX's Data Docs action (it rebuilt the index).
        if same and checkpoint.validation_definitions[0].suite.name == suite.name and not checkpoint.actions:
            return checkpoint
    except Exception:
        pass
    vd = context.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch_def, suite=suite))
    return context.checkpoints.add_or_update(gx.Checkpoint(name=name, validation_definitions=[vd], actions=[], result_format="SUMMARY"))


def _build_pages(context, result) -> str | None:
    """Render the Data Docs pages of one checkpoint result (its validation and its suite); the URL of the validation's page.

    GX's own Data Docs action also rebuilds the site's index, which reads every stored
    validation result: a cost that grew with each night (from 0.5 s to 1.1 s a validation
    after 110 days here). The Models page serves its own index (``mlops.ui.datadocs``), so
    GX's is never built.
    """
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    ((identifier, run_result),) = result.run_results.items()
    context.build_data_docs(
        site_names=[DATA_DOCS_SITE], resource_identifiers=[identifier, ExpectationSuiteIdentifier(name=run_result.suite_name)], build_index=False
    )
    urls = context.get_docs_sites_urls(resource_identifier=identifier, site_name=DATA_DOCS_SITE)
    return urls[0]["site_url"] if urls else None


def validate_frame(df: pd.DataFrame, config: DatasetConfig, interval: Interval, *, gx_dir: Path, build_docs: bool = True) -> dict:
    """Validate one partition's rows; returns the validate step's contract value.

    ``{success, failed_expectations, docs_uri, evaluated_expectations, suite}``; ``docs_uri`` is the
    validation's Data Docs page (None when ``build_docs`` is false).
    """
    import great_expectations as gx

    context = _context(Path(gx_dir))
    checkpoint = _checkpoint(context, config)
    try:
        result = checkpoint.run(
            batch_parameters={"dataframe": df},
            expectation_parameters=interval_parameters(interval),
            run_id=gx.RunIdentifier(run_name=f"{config.name}.{interval.key}"),
        )
        page = _build_pages(context, result) if build_docs else None
    except OSError as e:
        full = disk_full_error(Path(e.filename) if e.filename else None, e, near=Path(gx_dir))
        if full is None:
            raise
        raise full from e
    stats = next(iter(result.run_results.values())).statistics
    return {
        "success": bool(result.success),
        "failed_expectations": _summarise(result, set(map(str, df.columns))),
        "docs_uri": page,
        "evaluated_expectations": int(stats.get("evaluated_expectations", 0)),
        "suite": checkpoint.validation_definitions[0].suite.name,
    }
