"""
Measurements through posenet_node: frame latency per configuration, and under a camera rate.

The node and the client feeding it are `ros_session`'s; these functions drive them.
"""
from __future__ import annotations

import time

import numpy as np
from posenet_ros.engine.config import EstimateConfig
from posenet_tools.bench.ros_session import (BenchClient, FIRST_FRAME_TIMEOUT_S,
                                             FRAME_TIMEOUT_S, node_parameters, NodeProcess,
                                             RosBenchError, rss_mib, undelivered_hint)


def builds_in_progress(node_log: str) -> int:
    """
    Return how many network builds the node's log shows started and not ended yet.

    A new input size or stride is built in the background while frames go on at the size in
    use (`ros/stages/estimate.py`), so frames timed before the build ends would be timed at
    the old size.
    """
    started = ended = 0
    for line in node_log.splitlines():
        if 'building the network for input' in line:
            started += 1
        elif 'could not build the network for input' in line or (
                'network for input' in line and line.rstrip().endswith('is ready')):
            ended += 1
    return max(0, started - ended)


def wait_for_builds(client: BenchClient, node: NodeProcess, frame,
                    timeout_s: float = FIRST_FRAME_TIMEOUT_S) -> None:
    """Feed frames until the node has no network build in progress (a new size or stride)."""
    deadline = time.monotonic() + timeout_s
    while builds_in_progress(node.log_text()):
        node.check_alive()
        if time.monotonic() > deadline:
            raise RosBenchError(f'posenet_node did not finish building a network within '
                                f'{timeout_s:.0f} s:\n{node.log_tail()}')
        stamp_ns, _ = client.publish(frame)
        client.wait_for(stamp_ns, FRAME_TIMEOUT_S)


def measure_latency(client: BenchClient, node: NodeProcess, frames, config: EstimateConfig,
                    repeat: int, warmup: int = 2) -> dict:
    """
    Publish-to-PoseArray time (ms) of each frame, one frame in flight at a time.

    After `warmup` untimed passes over the frames and any network build they started.
    `samples` read the PoseArray into arrays; `message_samples` add what rclpy's messages
    would have cost (`BenchClient.message_cost_ms`).
    """
    client.set_parameters(node_parameters(config))
    samples, message_samples, lost = [], [], 0
    for index in range(warmup * len(frames)):
        frame = frames[index % len(frames)]
        stamp_ns, _ = client.publish(frame)
        if client.wait_for(stamp_ns, FIRST_FRAME_TIMEOUT_S) is None:
            node.check_alive()
            if index == 0:
                raise RosBenchError(undelivered_hint(frame))
            lost += 1
    wait_for_builds(client, node, frames[0])
    client.keep_bytes = True
    try:
        for index in range(repeat * len(frames)):
            stamp_ns, sent = client.publish(frames[index % len(frames)])
            arrived = client.wait_for(stamp_ns, FRAME_TIMEOUT_S)
            if arrived is None:
                node.check_alive()
                lost += 1
                continue
            samples.append((arrived - sent) * 1e3)
            cost_ms = client.message_cost_ms(stamp_ns)
            if cost_ms is not None:
                message_samples.append(samples[-1] + cost_ms)
    finally:
        client.keep_bytes = False
    client.take_arrivals()
    return {'samples': samples, 'message_samples': message_samples, 'lost': lost}


def measure_camera_rate(client: BenchClient, node: NodeProcess, frame, config: EstimateConfig,
                        rate_hz: float, duration_s: float, warmup_frames: int = 10) -> dict:
    """Frames at `rate_hz` for `duration_s`: PoseArray ages, drops, throughput, node memory."""
    client.set_parameters(node_parameters(config))
    for index in range(warmup_frames):  # settle the configuration before the clock starts
        stamp_ns, _ = client.publish(frame)
        if client.wait_for(stamp_ns, FIRST_FRAME_TIMEOUT_S) is None and index == 0:
            node.check_alive()
            raise RosBenchError(undelivered_hint(frame))
    time.sleep(0.5)
    client.take_arrivals()
    rss_start = rss_mib(node.pid)
    rss_peak = rss_start or 0.0
    published = []
    period = 1.0 / rate_hz
    start = time.perf_counter()
    next_at = start
    next_rss = start + 1.0
    while True:
        now = time.perf_counter()
        if now - start >= duration_s:
            break
        if now < next_at:
            time.sleep(min(next_at - now, 0.01))
            continue
        published.append(client.publish(frame)[0])
        next_at += period
        if next_at < now - period:  # fell behind (slow publisher): do not burst to catch up
            next_at = now
        if now >= next_rss:
            rss_peak = max(rss_peak, rss_mib(node.pid) or 0.0)
            next_rss += 1.0
    elapsed = time.perf_counter() - start
    time.sleep(1.0)  # the frame in progress
    node.check_alive()
    arrivals = client.take_arrivals()
    sent = set(published)
    ages = [(now_ns - stamp) / 1e6 for stamp, (_, now_ns) in arrivals.items() if stamp in sent]
    rss_end = rss_mib(node.pid)
    processed = len(ages)
    ages_array = np.asarray(ages) if ages else np.asarray([np.nan])
    return {
        'rate_hz': rate_hz, 'duration_s': round(elapsed, 2), 'published': len(published),
        'processed': processed, 'dropped': len(published) - processed,
        'processed_per_s': processed / elapsed if elapsed else 0.0,
        'age_p50_ms': float(np.nanpercentile(ages_array, 50)),
        'age_p99_ms': float(np.nanpercentile(ages_array, 99)),
        'age_max_ms': float(np.nanmax(ages_array)),
        'rss_start_mib': rss_start, 'rss_end_mib': rss_end,
        'rss_peak_mib': max(rss_peak, rss_end or 0.0),
    }
