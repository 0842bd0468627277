"""``airflow dag-processor`` that parses a DAG file for a callback only when the callback can run.

Airflow 3.3 sends the dag-processor a callback request for every task a trigger ends
successfully, whether the task has callbacks or not (``airflow/models/trigger.py``). The
dag-processor starts a process that parses the request's DAG file, and there drops the request:
it runs a task's callbacks for failures and retries only (``_execute_task_callbacks`` in
``airflow/dag_processing/processor.py``). In a backfill the triggerer ends three to five tasks a
day (``mlops.airflow.triggers``), each one parse of the nightly DAG file for nothing.

This dag-processor drops a task's success callback requests as it claims them (the same
outcome, without the parse); every other request (task failures and retries, DAG callbacks,
e-mails) goes Airflow's way. Start it with Airflow's options:
``python -m mlops.airflow.dag_processor [airflow dag-processor options]`` (``scripts/run.sh``,
``docker-compose.yaml``); plain ``airflow dag-processor`` still works, with those parses.
"""

from __future__ import annotations

import sys


def runs_in_processor(request) -> bool:
    """False for a request Airflow's dag-processor would parse the DAG file for, then drop: a task's success callback."""
    from airflow.callbacks.callback_requests import TaskCallbackRequest

    return not isinstance(request, TaskCallbackRequest) or request.is_failure_callback


def manager_class():
    """Airflow's ``DagFileProcessorManager``, claiming callback requests as it does but keeping only those that can run."""
    from airflow.dag_processing.manager import DagFileProcessorManager

    class CallbackFilteringManager(DagFileProcessorManager):
        def fetch_callbacks(self):
            claimed = super().fetch_callbacks()
            kept = [r for r in claimed if runs_in_processor(r)]
            if len(kept) < len(claimed):
                self.log.debug("Dropped %d task success callback request(s): no DAG file parse for them", len(claimed) - len(kept))
            return kept

    return CallbackFilteringManager


def main(argv: list[str] | None = None) -> None:
    from airflow.cli.commands import dag_processor_command

    dag_processor_command.DagFileProcessorManager = manager_class()
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", "dag-processor", *(sys.argv[1:] if argv is None else argv)]
    airflow_main()


if __name__ == "__main__":
    main()
