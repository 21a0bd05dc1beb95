"""
What happened to the frames in the last diagnostics period, counted by the frame worker.

The worker adds to it on every frame; the diagnostics timer takes a `PeriodStats` snapshot once
per period, which resets the per-period counts (totals since the node started are kept too, across
activations). Latency is from the image's header stamp to the moment its PoseArray is published,
on the node's clock.
"""
from __future__ import annotations

from dataclasses import dataclass
import threading
import time

import numpy as np

MAX_SAMPLES = 10_000  # latency samples kept per period (bounded memory at any frame rate)


@dataclass(frozen=True)
class PeriodStats:
    """Frames of one period (`seconds` long) and the totals since the node started."""

    seconds: float
    processed: int
    rejected: int          # bad input: could not be converted
    failed: int            # estimation or publishing raised
    degraded: int          # published without what a failed optional stage adds
    consecutive_failures: int
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    inference_ms_p50: float | None
    stage_ms_mean: dict            # stage name -> mean ms over the period's processed frames
    last_rejection: str
    last_failure: str
    last_degradation: str  # '<stage>: <error>'
    total_processed: int
    total_rejected: int
    total_failed: int
    total_degraded: int

    @property
    def rate_hz(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


class FrameStats:
    """
    Thread-safe counters: `processed`, `rejected`, `failed`, `degraded` by the worker.

    `take` by a timer.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._totals = [0, 0, 0, 0]
        self._consecutive_failures = 0
        self._last_rejection = self._last_failure = self._last_degradation = ''
        self._reset_period(time.monotonic())

    def processed(self, latency_ms: float | None, inference_ms: float | None,
                  stage_ms: dict | None = None) -> None:
        with self._lock:
            for name, ms in (stage_ms or {}).items():
                total, count = self._stage_ms.get(name, (0.0, 0))
                self._stage_ms[name] = (total + ms, count + 1)
            self._processed += 1
            self._totals[0] += 1
            self._consecutive_failures = 0
            if latency_ms is not None and len(self._latencies) < MAX_SAMPLES:
                self._latencies.append(latency_ms)
            if inference_ms is not None and len(self._inference) < MAX_SAMPLES:
                self._inference.append(inference_ms)

    def rejected(self, reason: str) -> None:
        with self._lock:
            self._rejected += 1
            self._totals[1] += 1
            self._last_rejection = reason

    def failed(self, reason: str) -> None:
        with self._lock:
            self._failed += 1
            self._totals[2] += 1
            self._consecutive_failures += 1
            self._last_failure = reason

    def degraded(self, reason: str) -> None:
        """Count a frame that goes on without an optional stage's part (and is processed)."""
        with self._lock:
            self._degraded += 1
            self._totals[3] += 1
            self._last_degradation = reason

    def restart(self) -> None:
        """Begin a new period and run of failures (an activate); the totals go on."""
        with self._lock:
            self._consecutive_failures = 0
            self._reset_period(time.monotonic())

    def take(self) -> PeriodStats:
        """Return the period since the last `take` (or start), and begin a new one."""
        now = time.monotonic()
        with self._lock:
            stats = PeriodStats(
                seconds=now - self._period_start, processed=self._processed,
                rejected=self._rejected, failed=self._failed, degraded=self._degraded,
                consecutive_failures=self._consecutive_failures,
                latency_ms_p50=_percentile(self._latencies, 50),
                latency_ms_p95=_percentile(self._latencies, 95),
                inference_ms_p50=_percentile(self._inference, 50),
                stage_ms_mean={name: total / count
                               for name, (total, count) in self._stage_ms.items()},
                last_rejection=self._last_rejection if self._rejected else '',
                last_failure=self._last_failure if self._failed else '',
                last_degradation=self._last_degradation if self._degraded else '',
                total_processed=self._totals[0], total_rejected=self._totals[1],
                total_failed=self._totals[2], total_degraded=self._totals[3])
            self._reset_period(now)
        return stats

    def _reset_period(self, now: float) -> None:
        self._period_start = now
        self._processed = self._rejected = self._failed = self._degraded = 0
        self._latencies: list[float] = []
        self._inference: list[float] = []
        self._stage_ms: dict[str, tuple[float, int]] = {}


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None
