"""
How long turning a camera Image into RGB takes: posenet_node's own conversion against cv_bridge.

    posenet_bench_image_conversion                  # 640x480 and 1280x720
    posenet_bench_image_conversion --sizes 1920x1080 --repeat 200

Each encoding's message is built once (as a subscriber receives it: `data` an array of bytes),
then `image_to_rgb` (what the node uses) and cv_bridge's `imgmsg_to_cv2(msg, 'rgb8')` each run
`--repeat` times; the median milliseconds and cv_bridge's time as a multiple of ours are printed.
Rows padded by 64 bytes are where cv_bridge reads bgr8 wrongly (64 is not a multiple of 3): there
the cv_bridge column times the node's cv_bridge path, which first copies the rows unpadded.
Needs a working ROS 2 cv_bridge (scripts/setup.sh builds one; `source env.sh`).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from posenet_ros.ros.image_conversion import (
    _convert_with_cv_bridge, cv_bridge_status, image_to_rgb)
from sensor_msgs.msg import Image

# encoding -> (values per pixel, bytes per value)
ENCODINGS = {'rgb8': (3, 1), 'bgr8': (3, 1), 'bgra8': (4, 1), 'mono8': (1, 1),
             'mono16': (1, 2), 'rgb16': (3, 2), 'bayer_rggb8': (1, 1), 'bayer_rggb16': (1, 2),
             'yuv422': (2, 1)}
PADDED = ('bgr8', 64)  # (encoding, bytes of padding per row)


def message(encoding: str, width: int, height: int, pad: int = 0) -> Image:
    channels, value_bytes = ENCODINGS[encoding]
    if encoding == 'yuv422':
        channels = 2
    row_bytes = width * channels * value_bytes
    data = np.random.default_rng(0).integers(0, 256, (height, row_bytes + pad), dtype=np.uint8)
    return Image(height=height, width=width, encoding=encoding, step=row_bytes + pad,
                 data=data.tobytes())


def median_ms(function, msg: Image, repeat: int) -> float:
    function(msg)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(msg)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def parse_size(text: str) -> tuple[int, int]:
    width, height = (int(part) for part in text.lower().split('x'))
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='640x480,1280x720',
                        help='comma-separated WIDTHxHEIGHT list (default: %(default)s)')
    parser.add_argument('--repeat', type=int, default=100, help='timed runs per case')
    args = parser.parse_args(argv)
    works, reason = cv_bridge_status()
    if not works:
        print(f'bench_image_conversion: {reason}', file=sys.stderr)
        return 1
    from cv_bridge import CvBridge
    bridge = CvBridge()

    def through_cv_bridge(msg: Image):
        return bridge.imgmsg_to_cv2(msg, desired_encoding='rgb8')

    print(f'median ms per frame, {args.repeat} runs each (numpy {np.__version__})')
    print(f"{'size':>9}  {'encoding':<22} {'own':>7} {'cv_bridge':>9} {'cv_bridge / own':>15}")
    for size in args.sizes.split(','):
        width, height = parse_size(size)
        cases = [(encoding, message(encoding, width, height), through_cv_bridge)
                 for encoding in ENCODINGS]
        encoding, pad = PADDED
        cases.append((f'{encoding} +{pad} B/row', message(encoding, width, height, pad),
                      _convert_with_cv_bridge))
        for name, msg, theirs in cases:
            own = median_ms(image_to_rgb, msg, args.repeat)
            other = median_ms(theirs, msg, args.repeat)
            print(f'{size:>9}  {name:<22} {own:7.3f} {other:9.3f} {other / own:14.1f}x')
    return 0


if __name__ == '__main__':
    sys.exit(main())
