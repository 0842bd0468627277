"""Alerts: the pipeline tells people when it needs them.

- ``events``: the event types, their default severity, and ``Event`` (type, dataset, severity,
  one-line summary, the numbers behind it, links).
- ``render``: an event (or a digest of several) as Slack-compatible text, JSON and HTML email.
- ``channels``: delivery by webhook (signed JSON POST) and by email (SMTP), with bounded retries.
- ``store``: the delivery log, a SQL database reached through the Airflow connection
  ``mlops_metadata`` (tables ``alert_events`` and ``alert_deliveries``); its unique event key
  makes every event go out once, whatever retries and re-runs happen.
- ``dispatch``: route an event to the dataset's channels by severity, send or queue it for the
  night's digest, record every attempt; never raises into the pipeline.
- ``build``: events from Airflow callback contexts (task, DAG run, deadline).
- ``notifiers``: Airflow notifiers (``AlertNotifier``, ``WebhookNotifier``, ``EmailNotifier``)
  for ``on_*_callback`` and Deadline Alerts.
- ``deadline``: the deadline reference of ``nightly_late`` (a run's data interval end).

DAG files import only ``notifiers`` and ``deadline`` at parse time; both are light.
"""
