"""Monitoring: figures per window over the prediction log, drift against each model version's
training data, performance estimated before feedback arrives, alerts, and the loop back to
labeling and retraining. See docs/monitoring.md."""
