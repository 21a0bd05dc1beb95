"""
posenet_demo's command line, importable without ROS.

`scripts/demo.sh --help` answers from it before the project is set up
(`python -m posenet_ros.ros.demo_options --help`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from posenet_ros.ros.cli_arguments import positive_float

START_TIMEOUT_S = 120.0  # TensorFlow start-up plus the first frame, on a slow machine


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='posenet_demo',
        description='Stream a photo or video into posenet_node (both as their own processes), '
                    'print a line per frame and save the annotated frames.')
    parser.add_argument('--source', type=Path, default=None,
                        help="photo or video (default: matplotlib's grace_hopper.jpg)")
    parser.add_argument('--frames', type=int, default=30, help='frames to process (30)')
    parser.add_argument('--rate', type=positive_float, default=10.0,
                        help='frames per second the publisher sends (10)')
    parser.add_argument('--size', default=None, help='resize the frames to WIDTHxHEIGHT first')
    parser.add_argument('--out', type=Path, default=Path('out/demo'),
                        help='folder for the annotated frames (out/demo)')
    parser.add_argument('--no-save', action='store_true', help='do not save annotated frames')
    parser.add_argument('--params-file', type=Path, default=None,
                        help='posenet_node parameters '
                             "(default: the package's config/posenet.yaml)")
    parser.add_argument('-p', '--param', action='append', default=[], metavar='NAME:=VALUE',
                        help='set a posenet_node parameter, e.g. -p decoding:=single (repeatable)')
    parser.add_argument('--timeout', type=positive_float, default=START_TIMEOUT_S,
                        help='give up when no poses arrive for this many seconds '
                             f'({START_TIMEOUT_S:g})')
    parser.add_argument('--quiet', action='store_true', help='no line per frame, only the summary')
    return parser


if __name__ == '__main__':
    build_parser().parse_args()
