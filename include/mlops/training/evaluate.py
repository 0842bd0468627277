"""The evaluate step: challenger and champion on the same holdout."""

from __future__ import annotations

from mlops import schema
from mlops.config import DatasetConfig, Settings
from mlops.sources.base import Interval
from mlops.training.metrics import compute_metrics, floor_failures, improvement
from mlops.training.model import predict_scores, prepare_features
from mlops.windows import read_window


def compare(config: DatasetConfig, challenger: dict[str, float], champion: dict[str, float] | None) -> dict:
    """Bless or not: the metric floors, then the minimum improvement over the champion (pure).

    ``reasons`` explains the verdict either way.
    """
    metric = config.training.primary_metric
    failures = floor_failures(challenger, config.training.metric_floors)
    notes: list[str] = []
    if champion is None:
        notes.append("no champion: the metric floors decide")
    elif metric not in challenger or metric not in champion:
        failures.append(f"primary metric {metric} missing (challenger has {sorted(challenger)}, champion has {sorted(champion)})")
    else:
        gain = improvement(metric, challenger[metric], champion[metric])
        need = config.training.min_improvement
        line = f"{metric}: challenger {challenger[metric]:.4f} vs champion {champion[metric]:.4f} (gain {gain:+.4f}, required {need:+.4f})"
        (notes if gain >= need else failures).append(line)
    return {"blessed": not failures, "reasons": failures or notes}


def evaluate_challenger(config: DatasetConfig, settings: Settings, train_result: dict) -> dict:
    """Score the logged challenger and the current champion on the challenger's holdout window.

    Returns ``{challenger_metrics, champion_metrics, champion_version, blessed, reasons, holdout_window}``
    and records the comparison on the challenger's MLflow run.
    """
    import mlflow

    from mlops import tracking
    from mlops.registry import CHAMPION, alias_version

    holdout = Interval.parse(*train_result["holdout_window"])
    frame = read_window(config, settings, holdout, min_rows=1).frame
    X, y = prepare_features(frame, config), frame[config.target].to_numpy()
    client = tracking.client(settings)
    challenger_model = mlflow.sklearn.load_model(train_result["model_uri"])
    challenger = compute_metrics(config.task, y, predict_scores(challenger_model, X, config.task))
    champion_version = alias_version(client, config.model_name, CHAMPION)
    champion = None
    if champion_version is not None:
        champion_model = mlflow.sklearn.load_model(f"models:/{config.model_name}/{champion_version.version}")
        champion = compute_metrics(config.task, y, predict_scores(champion_model, X, config.task))
    verdict = compare(config, challenger, champion)
    result = {
        "challenger_metrics": challenger,
        "champion_metrics": champion,
        "champion_version": str(champion_version.version) if champion_version else None,
        "holdout_window": train_result["holdout_window"],
        "holdout_rows": len(frame),
        **verdict,
    }
    run_id = train_result["run_id"]
    if champion:
        for k, v in champion.items():
            client.log_metric(run_id, f"champion_holdout_{k}", v)
    for tag, value in schema.encode_tags({schema.BLESSED: verdict["blessed"], schema.EVALUATION: result}).items():
        client.set_tag(run_id, tag, value)
    return result
