"""posenet_node fed at camera rates: frame ages, drops, throughput and memory."""
from __future__ import annotations

import numpy as np
from posenet_tools.bench.grid import BenchOptions, error_reason
from posenet_tools.bench.ros_latency import configured_line, latency_figures


def _mib(value) -> str:
    return f'{value:.0f}' if value is not None else '?'


def latency_line(latency: dict, label: str, precision: str) -> str:
    """Return the log line of the single-frame latency (its error when no frame answered)."""
    what = (f"median {latency['median']:.1f} ms" if latency.get('median') is not None
            else latency.get('error', 'not measured'))
    return f'camera frame latency through ROS ({label}, {precision}): {what}'


def camera_run_line(run: dict, precision: str) -> str:
    """Return the log line of one camera rate ('?' for a memory figure /proc would not give)."""
    return (f"camera {run['rate_hz']:g} Hz {precision} for {run['duration_s']:g} s: age p50 "
            f"{run['age_p50_ms']:.1f} ms, p99 {run['age_p99_ms']:.1f} ms, "
            f"{run['processed_per_s']:.1f} frames/s processed, {run['dropped']} of "
            f"{run['published']} dropped, RSS {_mib(run['rss_start_mib'])} -> "
            f"{_mib(run['rss_end_mib'])} MiB")


def camera_rate_run(photo: np.ndarray, options: BenchOptions, log, precision: str = 'float32',
                    node_parameters: dict | None = None, backend: str | None = None) -> dict:
    """
    posenet_node fed at camera rates: ages, drops, throughput, memory (one config, precision).

    `node_parameters`: what the node needs beyond the configuration (int8: its calibration);
    `backend`: the node's inference path at that precision (None: the node's default), the
    one the grid timed through ROS, so that int8 is not left to a default that is float32.
    """
    import cv2

    from posenet_ros.ros.image_conversion import rgb_to_image_msg
    from posenet_tools.bench.ros_measure import measure_camera_rate, measure_latency
    from posenet_tools.bench.ros_session import RosBenchError, RosSession
    case = options.camera_case
    config = case.config().snapped()
    frame = rgb_to_image_msg(cv2.resize(photo, (640, 480), interpolation=cv2.INTER_AREA),
                             encoding='bgr8')
    result = {'config': case.label, 'precision': precision, 'frame': '640x480 bgr8',
              'backend': backend or 'default', 'runs': []}
    try:
        with RosSession(case.model, backend, config, options.image_reliability,
                        node_parameters) as session:
            result['configured'] = configured_line(session.node.log_text())
            single = measure_latency(session.client, session.node, [frame], config,
                                     repeat=max(20, options.repeat * 4))
            result['latency'] = latency_figures(single)
            log(latency_line(result['latency'], case.label, precision))
            for rate in options.camera_rates:
                run = measure_camera_rate(session.client, session.node, frame, config, rate,
                                          options.camera_seconds)
                if result['latency']['median']:
                    run['p99_age_over_latency'] = run['age_p99_ms'] / result['latency']['median']
                if run['rss_start_mib'] is not None and run['rss_end_mib'] is not None:
                    run['rss_growth_mib'] = run['rss_end_mib'] - run['rss_start_mib']
                result['runs'].append(run)
                log(camera_run_line(run, precision))
    except RosBenchError as error:
        result['error'] = error_reason(error)
        log(f'camera-rate run ({precision}) failed: {error}')
    return result
