"""Prometheus gauges of every monitor, read from the database at each scrape, so every
replica reports the same figures."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelyard.db import Database
from modelyard.monitoring import repository

__all__ = ["MonitorCollector"]

_STATES = ("ok", "alert", "unknown")


class MonitorCollector(Collector):
    def __init__(self, database: Database) -> None:
        self._database = database

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "modelyard_monitor_alert",
            "1 while the monitor is in alert, 0 otherwise.",
            labels=["monitor_id", "monitor"],
        )
        value = GaugeMetricFamily(
            "modelyard_monitor_value",
            "The value of the monitor's check at its last evaluation.",
            labels=["monitor_id", "monitor"],
        )
        with self._database.session() as session:
            rows = repository.monitor_states(session)
        for row in rows:
            labels = [str(row.id), row.name]
            state.add_metric(labels, 1.0 if row.state == "alert" else 0.0)
            if row.value is not None:
                value.add_metric(labels, float(row.value))
        yield state
        yield value
