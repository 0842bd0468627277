"""``mlops``: answers about models from the registry, for people and scripts.

    mlops champion flights                     # the champion now: version, since, approver, why
    mlops champion flights --at 2026-03-01     # the champion that served at that time
    mlops history flights                      # every promotion and rollback, oldest first
    mlops versions flights                     # versions with aliases, decision and gate results
    mlops policy-report flights --model flights_late_arrival__backfill --from 2013-01-01 --to 2014-01-01
    mlops propose flights --from flights_late_arrival__backfill --version 7
                                               # copy a backfilled version into production as challenger

Reads ``MLFLOW_TRACKING_URI`` (``. scripts/env.sh`` sets it for the local stack).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime


def _client():
    from mlflow import MlflowClient

    from mlops.settings import Settings

    uri = Settings.value("tracking_uri", default=None)
    if not uri:
        sys.exit("mlops: MLFLOW_TRACKING_URI is not set; run `. scripts/env.sh` first")
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _model_name(dataset: str) -> str:
    from mlops.config import load_dataset

    return load_dataset(dataset).model_name


def _line(entry: dict) -> str:
    who = f", approved by {entry['approved_by']} ({entry.get('comment') or 'no comment'})" if entry.get("approved_by") else ""
    return (
        f"#{entry['seq']} {entry['time']}  {entry['kind']}: v{entry['from_version'] or '-'} -> v{entry['version']}"
        f"  by {entry['run_key']}{who}; reason: {entry['reason']}"
    )


def cmd_champion(args) -> int:
    from mlops.promotion.history import champion_at

    name = _model_name(args.dataset)
    when = datetime.fromisoformat(args.at).replace(tzinfo=UTC) if args.at else datetime.now(UTC)
    entry = champion_at(_client(), name, when)
    if entry is None:
        print(f"{name}: no champion at {when.isoformat()}")
        return 1
    print(f"{name}: champion at {when.isoformat()} was version {entry['version']}")
    print("  " + _line(entry))
    return 0


def cmd_history(args) -> int:
    from mlops.promotion.history import history

    entries = history(_client(), _model_name(args.dataset))
    for e in entries:
        print(json.dumps(e) if args.json else _line(e))
    return 0


def cmd_versions(args) -> int:
    from mlops import schema
    from mlops.promotion.gates import GATES

    client = _client()
    name = _model_name(args.dataset)
    aliases: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    for v in sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version)):
        t = v.tags
        gates = {g: (r or {}).get("passed") for g, r in schema.GATE.collect(t).items() if g in GATES}
        metrics = schema.METRICS.get(t, {})
        print(
            f"v{v.version:<4} {','.join(aliases.get(str(v.version), [])) or '-':<20} decision={schema.DECISION.get(t, 'pending')}"
            f"  data_end={t.get(schema.DATA_INTERVAL_END.name, '?')[:10]}  metrics={metrics}  gates={gates or '-'}"
        )
    return 0


def cmd_policy_report(args) -> int:
    from datetime import date

    from mlops.config import Settings, load_dataset
    from mlops.policy_report import build_report, log_report, period_of

    config, settings, client = load_dataset(args.dataset), Settings.from_env(), _client()
    model = args.model or config.model_name
    start, end = period_of(client, model, date.fromisoformat(args.to)) if args.to else period_of(client, model, date.today())
    if args.start:
        start = date.fromisoformat(args.start)
    result = build_report(config, settings, client, model_name=model, start=start, end=end)
    logged = log_report(settings, config, result, run_key=f"cli/{model}")
    print(json.dumps(result["summary"]["mean"]), result["report_uri"], logged["url"] or logged["run_id"], sep="\n")
    return 0


def cmd_propose(args) -> int:
    from mlops.promotion.history import propose

    result = propose(_client(), args.source, args.version, _model_name(args.dataset))
    print(f"{result['model_name']} version {result['version']} (copied from {result['copied_from']}) is now the challenger; the promotion DAG will gate it")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("champion", help="which version serves (or served at --at)")
    p.add_argument("dataset")
    p.add_argument("--at", help="ISO date or time (UTC)")
    p.set_defaults(func=cmd_champion)
    p = sub.add_parser("history", help="promotions and rollbacks")
    p.add_argument("dataset")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)
    p = sub.add_parser("versions", help="versions with aliases, decisions, gates")
    p.add_argument("dataset")
    p.set_defaults(func=cmd_versions)
    p = sub.add_parser("policy-report", help="retraining-policy report (policy vs never retrain vs retrain daily)")
    p.add_argument("dataset")
    p.add_argument("--model", help="registered model, e.g. flights_late_arrival__backfill (default: production)")
    p.add_argument("--from", dest="start", help="first day (default: the model's first version)")
    p.add_argument("--to", help="end day, exclusive (default: today)")
    p.set_defaults(func=cmd_policy_report)
    p = sub.add_parser("propose", help="copy a version (e.g. from a backfill) into production as challenger")
    p.add_argument("dataset")
    p.add_argument("--from", dest="source", required=True, help="source registered model, e.g. flights_late_arrival__backfill")
    p.add_argument("--version", required=True)
    p.set_defaults(func=cmd_propose)
    args = parser.parse_args(argv)
    from mlops import tracking
    from mlops.errors import TrackingUnavailable

    try:
        with tracking.reachable(doing=f"running `mlops {args.command}`", then="then run the command again"):
            return args.func(args)
    except TrackingUnavailable as e:
        sys.exit(f"mlops: {e}")


if __name__ == "__main__":
    sys.exit(main())
