"""
posenet_soak: posenet_node under a long hostile load, and what it costs it.

A camera at `--rate` Hz (640x480 bgr8, a real photo) for `--minutes`, with fuzzed frames mixed in
(`--fuzz`, a fraction: malformed raw Images of random encodings, sizes, steps and bytes), a live
parameter change every second (decoding, thresholds, NMS radius, flips, the accuracy options,
two input sizes that need networks built), and visualization subscribers coming and going every
two seconds. Printed and written (`--out OUT.json`): the single-frame latency measured first,
the node's RSS after warm-up and at the end, frame ages (now - header.stamp) p50 / p99 per
minute and overall, frames processed, worker restarts and bad frames counted by the node
(/diagnostics). Goals (issue "Nothing a camera or a caller sends may silence the node"): RSS
growth under 50 MB after warm-up, p99 age within 2x the single-frame latency, no restart. Exit
status 1 when one is not met or could not be measured (RSS unreadable, no diagnostics).

    posenet_soak --minutes 10 --rate 100 --fuzz 0.01 --out docs/benchmarks/soak
"""
from __future__ import annotations

import argparse
import array
import json
from pathlib import Path
import random
import sys
import time

import numpy as np
from posenet_ros.engine.atomic_write import write_file_atomic
from posenet_ros.engine.config import EstimateConfig
from posenet_tools.shared_data import shared_dir

CONFIG = EstimateConfig(output_stride=16, input_height=353, input_width=481, decoding='multi',
                        max_pose_detections=10, score_threshold=0.1, nms_radius=30.0)
# Live changes cycled once a second: each keeps the cost of a frame about the same.
CHANGES = (
    {'decoding': 'single'}, {'decoding': 'multi'},
    {'score_threshold': 0.3}, {'score_threshold': 0.1},
    {'nms_radius': 20.0}, {'nms_radius': 30.0},
    {'flip_horizontal': True}, {'flip_horizontal': False},
    {'refine_keypoints': True}, {'refine_keypoints': False},
    {'pose_score_keypoints': 5}, {'pose_score_keypoints': 17},
    {'max_pose_detections': 3}, {'max_pose_detections': 10},
    {'input_width': 449, 'input_height': 337}, {'input_width': 481, 'input_height': 353},
    {'min_pose_score': 0.3}, {'min_pose_score': 0.15},
    {'tracking': False}, {'tracking': True}, {'smoothing': True}, {'smoothing': False},
)
ENCODINGS = ('rgb8', 'bgr8', 'mono8', 'mono16', 'bgra8', 'yuv422', 'bayer_rggb8', '8UC3', 'x')


def fuzzed_frame(rng: random.Random):
    """
    Return a malformed (or merely odd) raw Image.

    Random encoding, size, step, endianness, bytes.
    """
    from sensor_msgs.msg import Image
    width, height = rng.choice([0, 1, 3, 640, 9000]), rng.choice([0, 1, 2, 480, 9000])
    step = rng.choice([0, width, width * 3, width * 3 + 7, 2**31 - 1])
    size = rng.choice([0, 17, max(0, step * min(height, 64)), 640 * 480 * 3])
    data = array.array('B', rng.randbytes(min(size, 640 * 480 * 3)))
    return Image(width=width, height=height, step=step % 2**32, encoding=rng.choice(ENCODINGS),
                 is_bigendian=rng.choice([0, 1]), data=data)


def soak(minutes: float, rate_hz: float, fuzz: float, model: str, log) -> dict:
    import cv2
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from visualization_msgs.msg import MarkerArray
    from diagnostic_msgs.msg import DiagnosticArray

    from posenet_ros.engine.image_io import load_image_rgb
    from posenet_ros.ros.image_conversion import rgb_to_image_msg
    from posenet_tools.bench.ros_measure import measure_latency
    from posenet_tools.bench.ros_session import RosSession, rss_mib

    photo = load_image_rgb(shared_dir() / 'data' / 'coco_kpts' / 'images' / '000000005802.jpg')
    frame = rgb_to_image_msg(cv2.resize(photo, (640, 480), interpolation=cv2.INTER_AREA),
                             encoding='bgr8')
    rng = random.Random(20261201)
    result = {'minutes': minutes, 'rate_hz': rate_hz, 'fuzz': fuzz, 'model': model,
              'frame': '640x480 bgr8', 'config': 'multi 353x481 s16 (max 10, 0.1, NMS 30)'}
    with RosSession(model, None, CONFIG) as session:
        client, node = session.client, session.node
        latency = measure_latency(client, node, [frame], CONFIG, repeat=40)
        single_ms = float(np.median(latency['samples']))
        result['single_frame_latency_ms'] = single_ms
        log(f'single-frame latency through ROS: median {single_ms:.1f} ms')
        diagnostics = []
        client.node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
        namespace = node.namespace
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        churn = []
        period = 1.0 / rate_hz
        start = time.perf_counter()
        duration = minutes * 60.0
        warmup_s = min(30.0, duration / 5)
        next_at, next_change, next_churn = start, start + 1.0, start + 2.0
        change_index = 0
        published, fuzzed = [], 0
        rss_warm = None
        minute_marks = []
        while (now := time.perf_counter()) - start < duration:
            if rss_warm is None and now - start >= warmup_s:
                rss_warm = rss_mib(node.pid)
                client.take_arrivals()
                published = []
                minute_marks.append(now)
            if now >= next_change:
                change = CHANGES[change_index % len(CHANGES)]
                change_index += 1
                client.parameters.set_parameters(  # not waited for: the camera goes on
                    [_parameter(name, value) for name, value in change.items()])
                next_change += 1.0
            if now >= next_churn:
                subscribed = churn.pop() if churn else None
                if subscribed is not None:
                    for subscription in subscribed:
                        client.node.destroy_subscription(subscription)
                else:
                    churn.append((
                        client.node.create_subscription(MarkerArray, f'{namespace}/poses/markers',
                                                        lambda _: None, reliable),
                        client.node.create_subscription(Image, f'{namespace}/poses/image',
                                                        lambda _: None, reliable)))
                next_churn += 2.0
            if now < next_at:
                time.sleep(min(next_at - now, 0.005))
                continue
            if rng.random() < fuzz:
                bad = fuzzed_frame(rng)
                client.publisher.publish(bad)
                fuzzed += 1
            else:
                published.append((client.publish(frame)[0], now))
            next_at += period
            if next_at < now - period:
                next_at = now
            if rss_warm is not None and now - minute_marks[-1] >= 60.0:
                minute_marks.append(now)
                rss = rss_mib(node.pid)
                log(f'{(now - start) / 60:.0f} min: RSS '
                    + (f'{rss:.0f} MiB' if rss is not None else 'unreadable')
                    + f', {len(published)} good frames published so far')
        elapsed = time.perf_counter() - start - warmup_s
        time.sleep(1.0)
        node.check_alive()
        rss_end = rss_mib(node.pid)
        arrivals = client.take_arrivals()
        sent = dict(published)
        ages = [(now_ns - stamp) / 1e6 for stamp, (_, now_ns) in arrivals.items() if stamp in sent]
        per_minute = []
        for begin, end in zip(minute_marks, minute_marks[1:] + [float('inf')]):
            chunk = [(now_ns - stamp) / 1e6 for stamp, (_, now_ns) in arrivals.items()
                     if stamp in sent and begin <= sent[stamp] < end]
            if chunk:
                per_minute.append({'p50_ms': float(np.percentile(chunk, 50)),
                                   'p99_ms': float(np.percentile(chunk, 99)),
                                   'processed': len(chunk)})
        restarts = rejected = None
        for message in reversed(diagnostics):
            values = {status.name.split(': ')[-1] + '/' + pair.key: pair.value
                      for status in message.status for pair in status.values}
            if 'processing/worker restarts' in values:
                restarts = int(values['processing/worker restarts'])
                rejected = int(values.get('input/frames rejected since start', 0))
                break
        ages_array = np.asarray(ages) if ages else np.asarray([np.nan])
        result.update({
            'measured_s': round(elapsed, 1), 'good_frames_published': len(published),
            'fuzzed_frames_published': fuzzed, 'parameter_changes': change_index,
            'frames_processed': len(ages), 'processed_per_s': len(ages) / elapsed,
            'age_p50_ms': float(np.nanpercentile(ages_array, 50)),
            'age_p99_ms': float(np.nanpercentile(ages_array, 99)),
            'age_max_ms': float(np.nanmax(ages_array)),
            'p99_age_over_latency': float(np.nanpercentile(ages_array, 99)) / single_ms,
            'per_minute': per_minute, 'rss_after_warmup_mib': rss_warm, 'rss_end_mib': rss_end,
            'rss_growth_mib': (rss_end - rss_warm) if rss_end and rss_warm else None,
            'worker_restarts': restarts, 'frames_rejected_by_node': rejected,
            'node_alive': node.alive()})
    return result


def _parameter(name, value):
    from rclpy.parameter import Parameter
    return Parameter(name, value=value)


def unmet_goals(result: dict) -> list[str]:
    """
    Return the goals the soak did not meet, one line each (empty when all are met).

    A figure that could not be read (RSS, the node's diagnostics) is a goal not shown met.
    """
    unmet = [] if result['node_alive'] else ['the node died']
    growth = result['rss_growth_mib']
    if growth is None:
        unmet.append('RSS growth not measured (RSS unreadable)')
    elif growth >= 50:
        unmet.append(f'RSS grew {growth:.0f} MiB (limit 50)')
    ratio = result['p99_age_over_latency']
    if ratio is None or not ratio <= 2.0:  # NaN: no frame processed
        unmet.append(f'p99 age over single-frame latency {ratio} (limit 2)')
    restarts = result['worker_restarts']
    if restarts is None:
        unmet.append('worker restarts not measured (no diagnostics from the node)')
    elif restarts:
        unmet.append(f'{restarts} worker restart(s)')
    return unmet


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='posenet_soak', description=__doc__.split('\n\n')[0])
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--rate', type=float, default=100.0, help='camera rate, Hz')
    parser.add_argument('--fuzz', type=float, default=0.01, help='fraction of fuzzed frames')
    parser.add_argument('--model', default='mobilenet_quant2_075')
    parser.add_argument('--out', type=Path, help='write OUT.json')
    args = parser.parse_args(argv)
    result = soak(args.minutes, args.rate, args.fuzz, args.model,
                  lambda text: print(text, flush=True))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        write_file_atomic(args.out.with_suffix('.json'), text + '\n')
    unmet = unmet_goals(result)
    print('goals NOT met: ' + '; '.join(unmet) if unmet else 'goals met', flush=True)
    return 1 if unmet else 0


if __name__ == '__main__':
    sys.exit(main())
