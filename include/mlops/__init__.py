"""The MLOps pipeline product: domain code (sources, lake, validation, drift, training, registry,
promotion) and its Airflow adapters (``mlops.airflow``). Importing it imports nothing heavy."""
