"""Airflow adapters: operators, links and context helpers. Thin: they validate rendered
arguments and call the domain code. They live in the installed package so that workers
and the triggerer import them without ``dags/`` on their path."""
