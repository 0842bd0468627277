"""The promotion gates. Each returns ``{passed, detail, ...numbers}`` and is recorded on the version.

1. ``lineage``: the version carries the lineage tags the register operator writes, and its
   training data passed validation.
2. ``floors``: the version's holdout metrics meet the dataset's metric floors.
3. ``beats_champion``: on the same evaluation data (the challenger's holdout window, read
   from the lake), the challenger beats the champion by ``promotion.min_improvement``
   (absolute) and ``promotion.min_relative_improvement`` (relative), like MLflow's
   ``MetricThreshold``; with no champion the floors decide. A challenger older than the
   champion (its data ends before the champion's) fails it without scoring: a promotion
   only moves forward, going back is the rollback DAG's job.
4. ``serving``: the model loads from ``models:/<name>/<version>`` in a fresh process, has and
   enforces its signature, and scores the sample within ``promotion.latency_budget_ms`` per
   1,000 rows, measured robustly (``mlops.promotion.serving``): a measurement spoilt by CPU
   load is retried, never taken as a rejection.
"""

from __future__ import annotations

from mlops import schema
from mlops.config import DatasetConfig, Settings
from mlops.errors import ConfigError
from mlops.sources.base import Interval
from mlops.training.metrics import CLASSIFICATION, REGRESSION, compute_metrics, floor_failures, higher_is_better, improvement
from mlops.training.model import predict_scores, prepare_features
from mlops.windows import read_window

GATES = ("lineage", "floors", "beats_champion", "serving")


def lineage_gate(tags: dict[str, str], config: DatasetConfig) -> dict:
    missing = [t for t in config.promotion.required_tags if not tags.get(t)]
    validation = schema.VALIDATION.get(tags, {})
    problems = [f"missing lineage tags {missing}"] if missing else []
    if validation.get("success") is not True:
        problems.append(f"training data validation did not pass (mlops.validation={validation or 'absent'})")
    return {"passed": not problems, "detail": "; ".join(problems) or "lineage complete; training data passed validation", "missing": missing}


def floors_gate(metrics: dict[str, float], config: DatasetConfig) -> dict:
    failures = floor_failures(metrics, config.training.metric_floors)
    detail = "; ".join(failures) or (f"all floors met {config.training.metric_floors}" if config.training.metric_floors else "no floors configured")
    return {"passed": not failures, "detail": detail, "metrics": metrics}


def compare_to_champion(metric: str, challenger: float, champion: float | None, *, min_abs: float, min_rel: float) -> dict:
    """MetricThreshold-like comparison (pure)."""
    if champion is None:
        return {"passed": True, "detail": "no champion: the floors decide", "challenger": challenger, "champion": None}
    gain = improvement(metric, challenger, champion)
    rel = gain / abs(champion) if champion else float("inf") if gain > 0 else 0.0
    ok = gain >= min_abs and rel >= min_rel
    direction = "higher" if higher_is_better(metric) else "lower"
    detail = (
        f"{metric} ({direction} is better): challenger {challenger:.4f} vs champion {champion:.4f}, "
        f"gain {gain:+.4f} ({rel:+.2%}); required {min_abs:+.4f} and {min_rel:+.2%}"
    )
    return {"passed": ok, "detail": detail, "challenger": challenger, "champion": champion, "gain": gain, "relative_gain": rel}


def evaluation_frame(config: DatasetConfig, settings: Settings, tags: dict[str, str]):
    """The challenger's holdout window from the lake: the same data for both models."""
    start, end = schema.HOLDOUT_WINDOW.get(tags)
    return read_window(config, settings, Interval.parse(start, end), min_rows=1).frame


def beats_champion_gate(config: DatasetConfig, settings: Settings, frame, challenger_uri: str, champion_uri: str | None) -> dict:
    import mlflow

    metric = config.training.primary_metric
    X, y = prepare_features(frame, config), frame[config.target].to_numpy()

    def score(uri):
        return compute_metrics(config.task, y, predict_scores(mlflow.sklearn.load_model(uri), X, config.task))

    challenger = score(challenger_uri)
    if metric not in (CLASSIFICATION if config.task == "classification" else REGRESSION):
        # The config checks refuse this at load time; a config that predates them still fails clearly here.
        raise ConfigError(
            f"dataset {config.name!r}: training.primary_metric {metric!r} is not a metric of a {config.task} model "
            f"(computed: {sorted(challenger)}); set training.primary_metric in the dataset config to one of them, then "
            "clear the promotion run"
        )
    champion = score(champion_uri) if champion_uri else None
    missing = [who for who, m in (("challenger", challenger), ("champion", champion)) if m is not None and metric not in m]
    if missing:
        classes = ", ".join(f"{k!r}: {v}" for k, v in sorted(frame[config.target].value_counts().items(), key=str)) or "no rows"
        return {
            "passed": False,
            "detail": (
                f"{metric} is undefined for the {' and '.join(missing)} on the evaluation window ({len(frame)} rows; "
                f"classes of {config.target!r}: {classes}); the versions cannot be compared on it"
            ),
            "rows": len(frame),
            "challenger_metrics": challenger,
            "champion_metrics": champion,
        }
    out = compare_to_champion(
        metric,
        challenger[metric],
        champion[metric] if champion else None,
        min_abs=config.promotion.min_improvement,
        min_rel=config.promotion.min_relative_improvement,
    )
    return {**out, "rows": len(frame), "challenger_metrics": challenger, "champion_metrics": champion}


def serving_gate(config: DatasetConfig, model_uri: str, frame) -> dict:
    """Serving check of ``model_uri`` on the head of ``frame`` (see ``mlops.promotion.serving``).

    Raises ``InconclusiveMeasurement`` when the latency stayed over budget only because the
    machine was loaded or the timings scattered: Airflow retries the task later rather than
    the gate rejecting the model for good.
    """
    from mlops.errors import InconclusiveMeasurement
    from mlops.promotion.serving import serving_check

    sample = prepare_features(frame.head(config.promotion.serving_sample_rows), config)
    budget = config.promotion.latency_budget_ms
    r = serving_check(model_uri, sample, budget)
    if r.get("timed_out"):
        raise InconclusiveMeasurement(
            f"{model_uri}: the serving check {r['error']}; on a loaded worker that is not a verdict on the model. "
            "Airflow retries this task; if it keeps failing, run the promotion when the workers are less busy"
        )
    problems = []
    if not r.get("loaded"):
        problems.append(f"model did not load in a fresh process: {r.get('error')}")
    else:
        if not r.get("has_signature"):
            problems.append("model has no input signature")
        elif not r.get("enforces_signature"):
            problems.append("model accepted an input without one of its signature columns")
        latency = (
            f"{r['ms_per_1000_rows']:.1f} ms per 1,000 rows ({r['fixed_ms']:.1f} ms per call + {r['per_row_ms'] * 1000:.1f} ms "
            f"per 1,000 rows; CPU {r['cpu_ms_per_1000_rows']:.1f} ms, contention {r['contention']:.2f}, dispersion {r['dispersion']:.2f})"
        )
        if r["verdict"] == "inconclusive":
            raise InconclusiveMeasurement(
                f"{model_uri}: serving latency {latency} is over the budget of {budget:.0f} ms, but the machine was loaded "
                f"or the timings scattered in all {len(r['rounds'])} rounds; not a verdict. Airflow retries this task; "
                "if it keeps failing, run the promotion when the workers are less busy"
            )
        if r["verdict"] == "over":
            problems.append(f"{latency} exceeds the budget of {budget:.0f} ms")
    detail = "; ".join(problems) or f"loaded in a fresh process, signature enforced, {latency} (budget {budget:.0f})"
    return {"passed": not problems, "detail": detail, **{k: v for k, v in r.items() if k != "model_uri"}}


def older_than_champion(mv, champion) -> dict | None:
    """The failed ``beats_champion`` result of a challenger older than the champion, else None."""
    from mlops.registry import describe, version_key

    if champion is None or version_key(mv) >= version_key(champion):
        return None
    return {
        "passed": False,
        "detail": f"{describe(mv)} is older than the champion {describe(champion)}; a promotion only moves forward (use the rollback DAG to go back)",
        "challenger": None,
        "champion": None,
    }


def run_gates(config: DatasetConfig, settings: Settings, version: str) -> dict:
    """Run every gate on ``version`` and record each result on it; returns ``{version, passed, gates, champion_version}``."""
    from mlops import tracking
    from mlops.registry import CHAMPION, alias_version

    client = tracking.client(settings)
    name = config.model_name
    mv = client.get_model_version(name, version)
    tags = mv.tags
    champion = alias_version(client, name, CHAMPION)
    champion_version = str(champion.version) if champion is not None and str(champion.version) != str(version) else None
    gates: dict[str, dict] = {"lineage": lineage_gate(tags, config)}
    gates["floors"] = floors_gate(schema.METRICS.get(tags, {}), config)
    older = older_than_champion(mv, champion) if champion_version else None
    if older is not None:
        gates["beats_champion"] = older
        gates["serving"] = {"passed": False, "detail": "not run: the challenger is older than the champion"}
    elif gates["lineage"]["passed"]:
        frame = evaluation_frame(config, settings, tags)
        gates["beats_champion"] = beats_champion_gate(
            config,
            settings,
            frame,
            f"models:/{name}/{version}",
            f"models:/{name}/{champion_version}" if champion_version else None,
        )
        gates["serving"] = serving_gate(config, f"models:/{name}/{version}", frame)
    else:
        for g in ("beats_champion", "serving"):
            gates[g] = {"passed": False, "detail": "not run: lineage incomplete, the evaluation data cannot be located"}
    passed = all(g["passed"] for g in gates.values())
    for g, r in gates.items():
        client.set_model_version_tag(name, version, *schema.GATE.tag(g).item(r))
    client.set_model_version_tag(name, version, *schema.GATES_PASSED.item(passed))
    return {"version": str(version), "model_name": name, "passed": passed, "gates": gates, "champion_version": champion_version}
