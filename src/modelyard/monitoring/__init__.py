"""Monitoring: ground truth by predict id, realized and estimated performance over time, drift
against the training sample, and monitors that call webhooks when their state changes."""
