"""The platform's Prometheus metrics, made with prometheus_client (the maintained client library).

What each process counts (requests, clearing files it received) lives here; what the database
knows (outbox lag, bank sync lag, clearing progress of the day) is read at scrape time by
`collectors.PlatformCollector`, so it is the same whichever process answers the scrape.

## Several worker processes

`ykt serve --workers N` runs N API processes behind one socket; a scrape reaches one of them.
prometheus_client's multiprocess mode makes every process write its counters to its own
memory-mapped file in one folder (`PROMETHEUS_MULTIPROC_DIR`) and the process that answers a
scrape add up every file (`multiprocess.MultiProcessCollector`). `enable_multiprocess` sets
it up in the supervising process before it starts the workers (they inherit the variable);
the folder is emptied at each start, since files of processes of an earlier run would be
counted again. Counters and histograms only: their sums across processes are what they mean
(a gauge of one process would need a rule for adding them up; the gauges are the database's).

The metric objects are made on first use (`metrics()`), never at import, so a process that
imported this module before `enable_multiprocess` still writes to the folder.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
NAMESPACE = "ykt"
# Seconds; a card read answers in about a millisecond, a clearing upload in seconds.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FILE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """Every metric a process updates itself (labels: route templates and codes, never a card
    number, a person or a path as requested)."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self.requests = Counter(
            "http_requests", "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"], namespace=NAMESPACE, registry=registry)
        self.request_seconds = Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer's last byte, by method and route template",
            ["method", "route"], namespace=NAMESPACE, buckets=REQUEST_BUCKETS, registry=registry)
        self.clearing_files = Counter(
            "clearing_files_processed", "Clearing files received by this platform, by file kind "
            "and outcome (received, replayed: the same file again, refused: a 4xx)",
            ["kind", "outcome"], namespace=NAMESPACE, registry=registry)
        self.clearing_records = Counter(
            "clearing_records_processed", "Records of the clearing files received, by the "
            "status each got (cleared, pending_national, rejected)",
            ["status"], namespace=NAMESPACE, registry=registry)
        self.clearing_file_seconds = Histogram(
            "clearing_file_duration_seconds", "Time to receive one clearing file (read, verify, "
            "store, post), by kind", ["kind"], namespace=NAMESPACE, buckets=FILE_BUCKETS,
            registry=registry)
        self.bank_message_delay = Histogram(
            "bank_message_apply_delay_seconds", "Bank to platform: from a bank event's time to "
            "the platform applying it", ["bank"], namespace=NAMESPACE,
            buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0),
            registry=registry)


_lock = threading.Lock()
_metrics: Metrics | None = None


def metrics() -> Metrics:
    """This process's metrics (made on first use: see the module docstring)."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


def enable_multiprocess(directory: str | os.PathLike) -> Path:
    """Make this process, and every process it starts afterwards, write its metrics to
    `directory` (emptied first: see the module docstring). Call it before the first metric is
    updated in this process."""
    if _metrics is not None and not getattr(values.ValueClass, "_multiprocess", False):
        raise RuntimeError("metrics were already made in memory; enable multiprocess mode first")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_ENV] = str(folder)
    values.ValueClass = values.MultiProcessValue()  # what the import chose without the variable
    return folder


class _ThisProcess:
    """The default registry's metrics (this process's, and Python's own process metrics)."""

    def collect(self):
        return REGISTRY.collect()


def exposition(extra: Iterable = ()) -> tuple[bytes, str]:
    """The text a scrape gets: every process's metrics (added up in multiprocess mode) and the
    `extra` collectors' (the database's figures); with its content type."""
    registry = CollectorRegistry(auto_describe=False)  # nothing is collected at registration
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def count_clearing_file(result, seconds: float) -> None:
    """A clearing file received (`result`: its clearing.batches.BatchResult)."""
    m = metrics()
    m.clearing_files.labels(result.kind, "replayed" if result.replayed else "received").inc()
    m.clearing_file_seconds.labels(result.kind).observe(seconds)
    if not result.replayed:
        for status, count in (("cleared", result.cleared), ("pending_national", result.pending_national),
                              ("rejected", result.rejected)):
            if count:
                m.clearing_records.labels(status).inc(count)


def count_refused_clearing_file() -> None:
    """A clearing file refused whole (malformed, a conflict, not the sender's: a 4xx)."""
    metrics().clearing_files.labels("unknown", "refused").inc()


def observe_bank_message(bank: str, occurred_at, applied_at) -> None:
    """Bank to platform: a bank's message applied, `applied_at - occurred_at` after the event."""
    from yikatong.core.clock import as_utc

    delay = (as_utc(applied_at) - as_utc(occurred_at)).total_seconds()
    metrics().bank_message_delay.labels(bank).observe(max(0.0, delay))
