"""Training, evaluation and the retraining decision."""
