"""What an alert costs the task that reports it: record + deliver, a repeated report, a channel that is down.

Real receivers on 127.0.0.1 (the HTTP server and the STARTTLS SMTP server of the tests), a real
SQLite delivery log in a temporary folder. Prints figures; asserts nothing about time.

    . .venv/bin/activate && python bench/alerts_bench.py [--events 50]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50)
    args = parser.parse_args()
    from mlops.alerts.dispatch import emit
    from mlops.alerts.events import Event
    from mlops.alerts.store import AlertStore
    from receivers import SmtpReceiver, WebhookReceiver, alerts_config, closed_port, connection_env, self_signed_cert

    tmp = Path(tempfile.mkdtemp(prefix="alerts-bench-"))
    cert, key = self_signed_cert(tmp / "tls")
    os.environ["SSL_CERT_FILE"] = str(cert)
    # Random per run: the bench's own receivers on 127.0.0.1, never real credentials.
    hook = WebhookReceiver(secret="bench-" + secrets.token_hex(16))
    smtp = SmtpReceiver(login="a@example.org", password="bench-" + secrets.token_hex(12), cert=cert, key=key)
    closed = closed_port()
    os.environ["AIRFLOW_CONN_T_WEBHOOK"] = connection_env(conn_type="http", host=hook.url, password=hook.secret)
    os.environ["AIRFLOW_CONN_T_SMTP"] = connection_env(
        conn_type="smtp",
        host="127.0.0.1",
        port=smtp.port,
        login=smtp.login,
        password=smtp.password,
        extra={"from_email": "m@example.org", "disable_ssl": True, "retry_limit": 0},
    )
    os.environ["AIRFLOW_CONN_T_DOWN"] = connection_env(conn_type="http", host=f"http://127.0.0.1:{closed}/hook")
    store = AlertStore(f"sqlite:///{tmp / 'metadata.sqlite'}")
    cfg = alerts_config()
    days = [date(2024, 1, 1) + timedelta(days=k) for k in range(args.events)]

    def event(day):
        return Event(type="partition_quarantined", dataset="bench", day=day, summary=f"partition {day} quarantined")

    new, again = [], []
    for day in days:
        t = time.perf_counter()
        emit([event(day)], cfg, store=store)
        new.append(time.perf_counter() - t)
    for day in days:
        t = time.perf_counter()
        emit([event(day)], cfg, store=store)
        again.append(time.perf_counter() - t)
    down_cfg = alerts_config(channels=[{"name": "down", "kind": "webhook", "conn_id": "t_down"}], attempts=3, backoff_seconds=1.0)
    t = time.perf_counter()
    (down,) = emit([Event(type="nightly_late", dataset="bench", day=days[0], summary="late")], down_cfg, store=store)
    down_s = time.perf_counter() - t
    results = {
        "events": args.events,
        "new event, webhook + email sent": _ms(new),
        "same event reported again (nothing sent)": _ms(again),
        "channel down, 3 attempts, backoff 1 s + 2 s": f"{down_s:.2f} s; {down['deliveries'][0]['detail'][:60]}",
        "webhooks received": len(hook.received),
        "mails received": len(smtp.messages),
    }
    print(json.dumps(results, indent=1))
    hook.stop()
    smtp.stop()


if __name__ == "__main__":
    main()
