"""posenet_node fed at camera rates: frame ages, drops, throughput and memory."""
from __future__ import annotations

import numpy as np
from posenet_tools.bench.grid import BenchOptions, error_reason, stats


def camera_rate_run(photo: np.ndarray, options: BenchOptions, log, precision: str = 'float32',
                    node_parameters: dict | None = None) -> dict:
    """
    posenet_node fed at camera rates: ages, drops, throughput, memory (one config, precision).

    `node_parameters`: what the node needs beyond the configuration (int8: its calibration).
    """
    import cv2

    from posenet_ros.ros.image_conversion import rgb_to_image_msg
    from posenet_tools.bench.ros_measure import measure_camera_rate, measure_latency
    from posenet_tools.bench.ros_session import RosBenchError, RosSession
    case = options.camera_case
    config = case.config().snapped()
    frame = rgb_to_image_msg(cv2.resize(photo, (640, 480), interpolation=cv2.INTER_AREA),
                             encoding='bgr8')
    result = {'config': case.label, 'precision': precision, 'frame': '640x480 bgr8', 'runs': []}
    try:
        with RosSession(case.model, None, config, options.image_reliability,
                        node_parameters) as session:
            result['backend'] = 'default'
            single = measure_latency(session.client, session.node, [frame], config,
                                     repeat=max(20, options.repeat * 4))
            result['latency'] = stats(single['samples'])
            log(f'camera frame latency through ROS ({case.label}, {precision}): median '
                f"{result['latency']['median']:.1f} ms")
            for rate in options.camera_rates:
                run = measure_camera_rate(session.client, session.node, frame, config, rate,
                                          options.camera_seconds)
                if result['latency']['median']:
                    run['p99_age_over_latency'] = run['age_p99_ms'] / result['latency']['median']
                if run['rss_start_mib'] is not None and run['rss_end_mib'] is not None:
                    run['rss_growth_mib'] = run['rss_end_mib'] - run['rss_start_mib']
                result['runs'].append(run)
                log(f"camera {rate:g} Hz {precision} for {run['duration_s']:g} s: age p50 "
                    f"{run['age_p50_ms']:.1f} ms, p99 {run['age_p99_ms']:.1f} ms, "
                    f"{run['processed_per_s']:.1f} frames/s processed, {run['dropped']} of "
                    f"{run['published']} dropped, RSS {run['rss_start_mib']:.0f} -> "
                    f"{run['rss_end_mib']:.0f} MiB")
    except RosBenchError as error:
        result['error'] = error_reason(error)
        log(f'camera-rate run ({precision}) failed: {error}')
    return result
