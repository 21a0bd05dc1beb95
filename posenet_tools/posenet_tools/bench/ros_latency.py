"""Frame latency through posenet_node over DDS, for the rows of one model and inference path."""
from __future__ import annotations

import os

from posenet_tools.bench.grid import BenchOptions, case_of, error_reason, stats


def dds_description(image_reliability: str | None) -> dict:
    """Return what DDS setup the ROS figures were taken with (it matters for large images)."""
    return {'rmw': os.environ.get('RMW_IMPLEMENTATION') or 'default (rmw_fastrtps_cpp)',
            'FASTDDS_BUILTIN_TRANSPORTS': os.environ.get('FASTDDS_BUILTIN_TRANSPORTS'),
            'image_subscription_reliability': image_reliability or 'node default (best effort)'}


def configured_line(node_log: str) -> str | None:
    """Return the node's own 'configured: ...' log line (model, backend, precision), if any."""
    for line in node_log.splitlines():
        if ': configured: ' in line:
            return line.split(': configured: ', 1)[1].strip()
    return None


def time_through_ros(model: str, backend: str | None, rows: list[dict], messages,
                     options: BenchOptions, log, node_parameters: dict | None = None,
                     label: str | None = None) -> dict:
    """
    Add each row's frame latency through posenet_node (one node, configs set live).

    `node_parameters`: its read-only parameters besides model and backend (e.g. precision).
    Returns what the node said it configured, or why it could not be timed.
    """
    from posenet_tools.bench.ros_measure import measure_latency
    from posenet_tools.bench.ros_session import RosBenchError, RosSession
    label = label or str(backend)
    first = case_of(rows[0]).config()
    session_info = {'model': model, 'path': label, 'parameters': node_parameters or {}}
    try:
        with RosSession(model, backend, first.snapped(), options.image_reliability,
                        node_parameters) as session:
            session_info['configured'] = configured_line(session.node.log_text())
            for row in rows:
                case = case_of(row)
                result = measure_latency(session.client, session.node, messages,
                                         case.config().snapped(),
                                         options.ros_repeat or options.repeat)
                row['ros'] = {**stats(result['samples']), 'lost': result['lost']}
                row['samples_ms']['ros'] = [round(v, 3) for v in result['samples']]
                log(f'{case.label} [{label}] through ROS: median '
                    f"{row['ros']['median']:.1f} ms, p90 {row['ros']['p90']:.1f} ms"
                    + (f", {result['lost']} lost" if result['lost'] else ''))
    except RosBenchError as error:
        log(f'{model} [{label}]: ROS timing failed: {error}')
        session_info['error'] = error_reason(error)
        for row in rows:
            row.setdefault('ros', {'median': None, 'error': error_reason(error)})
    return session_info
