"""The production loop: batch scoring with the serving versions, the prediction store, late labels, live metrics."""
