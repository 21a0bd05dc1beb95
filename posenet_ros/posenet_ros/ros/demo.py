"""
posenet_demo: PoseNet over ROS 2 end to end, with no camera and no launch system.

Starts two real nodes as their own processes, `posenet_image_publisher` (a photo or video played
as a camera) and `posenet_node`, then listens to what the node publishes: a line per frame
(people found, latency = arrival time - the image's capture stamp) and the annotated frames from
poses/image saved as JPEG files. Stops both nodes with Ctrl-C (SIGINT) after --frames frames and
exits 0 when all went well.

    posenet_demo                                  Grace Hopper's photo, 30 frames at 10 Hz
    posenet_demo --source clip.mp4 --frames 100 --rate 15 --out out/clip
    posenet_demo --source ../shared/data/video/vtest.avi --frames 100   # tracked ids, coloured
    posenet_demo -p decoding:=single -p output_stride:=8
"""
from __future__ import annotations

from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
from posenet_msgs.msg import PoseArray
from posenet_ros.engine.atomic_write import write_file_atomic
from posenet_ros.ros.demo_options import build_parser
from posenet_ros.ros.image_conversion import image_to_rgb, ImageConversionError
from posenet_ros.ros.image_publisher import default_photo
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import Image

# TensorFlow's start-up notes, not meant for a user: left out of the node's output the demo shows.
TF_CHATTER = re.compile(r'^(I\d{4} |WARNING: All log messages before absl::InitializeLog|'
                        r'INFO: Created TensorFlow Lite XNNPACK delegate)')
STOP_TIMEOUT_S = 15.0


def executable(name: str, module: str) -> list[str]:
    """Return the installed console script, or the module run by this interpreter."""
    found = shutil.which(name)
    return [found] if found else [sys.executable, '-m', module]


def params_file() -> Path | None:
    """config/posenet.yaml of the installed package, if the workspace is sourced."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
        path = Path(get_package_share_directory('posenet_ros')) / 'config' / 'posenet.yaml'
    except (ImportError, PackageNotFoundError, KeyError, ValueError):
        return None
    return path if path.is_file() else None


class DemoListener(Node):
    """Receives poses and annotated images; prints a line per frame, saves the images."""

    def __init__(self, out_dir: Path | None, quiet: bool = False):
        super().__init__('posenet_demo')
        self.out_dir = out_dir
        self.quiet = quiet
        self.latencies_ms: list[float] = []
        self.people: list[int] = []
        self.saved: list[Path] = []
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                              history=HistoryPolicy.KEEP_LAST)
        self.create_subscription(PoseArray, 'poses', self._on_poses, reliable)
        if out_dir is not None:
            self.create_subscription(Image, 'poses/image', self._on_image, reliable)

    @property
    def frames(self) -> int:
        return len(self.latencies_ms)

    def _on_poses(self, msg: PoseArray) -> None:
        latency_ms = (self.get_clock().now() - Time.from_msg(msg.header.stamp)).nanoseconds / 1e6
        self.latencies_ms.append(latency_ms)
        self.people.append(len(msg.poses))
        if not self.quiet:
            scores = ', '.join(f'{pose.score:.2f}' for pose in msg.poses)
            ids = ', '.join(f'#{pose.id}' for pose in msg.poses if pose.id)
            found = f'{len(msg.poses)} {"person" if len(msg.poses) == 1 else "people"}'
            print(f'frame {self.frames:4d}: {found:>9}{f" (scores {scores})" if scores else ""}'
                  f'{f" ids {ids}" if ids else ""}, latency {latency_ms:6.1f} ms', flush=True)

    def _on_image(self, msg: Image) -> None:
        try:
            rgb = image_to_rgb(msg)
        except ImageConversionError as error:
            self.get_logger().warning(f'cannot save an annotated frame: {error}')
            return
        path = self.out_dir / f'frame_{len(self.saved) + 1:04d}.jpg'
        write_jpeg(path, rgb)
        self.saved.append(path)


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    """Write atomically: a reader never sees a half-written file."""
    ok, data = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise RuntimeError(f'OpenCV could not encode {path.name}')
    write_file_atomic(path, data.tobytes())


def forward_output(process: subprocess.Popen) -> threading.Thread:
    """Pass the process's output on to our stderr, without TensorFlow's start-up notes."""
    def forward():
        for line in process.stdout:
            if not TF_CHATTER.match(line):
                sys.stderr.write(line)
                sys.stderr.flush()
    thread = threading.Thread(target=forward, name='node_output', daemon=True)
    thread.start()
    return thread


def stop_process(process: subprocess.Popen, name: str, interrupted: bool = False) -> int:
    """
    Ctrl-C the process as a user would; kill it only if it does not stop in time.

    After a Ctrl-C in the terminal the process got it too: give it time before signalling again.
    """
    if interrupted:
        try:
            process.wait(timeout=STOP_TIMEOUT_S / 3)
        except subprocess.TimeoutExpired:
            pass
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f'posenet_demo: {name} did not stop within {STOP_TIMEOUT_S:g} s; killing it',
                  file=sys.stderr)
            process.kill()
            process.wait()
    return process.returncode


def main(args: list[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(sys.argv[1:] if args is None else args)
    if options.frames < 1:
        parser.error('--frames must be at least 1')
    for param in options.param:
        if ':=' not in param:
            parser.error(f"-p takes NAME:=VALUE, got '{param}'")
    try:
        source = options.source or default_photo()
    except ValueError as error:  # no photo given and no matplotlib for the default one
        parser.error(str(error))
    if not source.is_file():
        parser.error(f'--source {source}: no such file')
    out_dir = None if options.no_save else options.out
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for old in out_dir.glob('frame_*.jpg'):  # a shorter run must not leave older frames
            old.unlink()

    node_command = executable('posenet_node', 'posenet_ros.ros.node') + ['--ros-args']
    params = options.params_file or params_file()
    if params is not None:
        node_command += ['--params-file', str(params)]
    for param in options.param:
        node_command += ['-p', param]
    publisher_command = executable('posenet_image_publisher',
                                   'posenet_ros.ros.image_publisher') + [
        '--source', str(source), '--rate', str(options.rate)]
    if options.size:
        publisher_command += ['--size', options.size]

    print(f'posenet_demo: {source.name} at {options.rate:g} Hz into posenet_node, '
          f'{options.frames} frames' + (f', annotated frames to {out_dir}/' if out_dir else ''),
          flush=True)
    processes: dict[str, subprocess.Popen] = {}
    listener = None
    status = 0
    try:
        rclpy.init(args=[])  # the command line's -p name:=value are the node's, not ours
        listener = DemoListener(out_dir, options.quiet)
        processes['posenet_node'] = subprocess.Popen(
            node_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors='replace')
        forward_output(processes['posenet_node'])
        processes['posenet_image_publisher'] = subprocess.Popen(
            publisher_command, stdout=subprocess.DEVNULL)
        print('posenet_demo: waiting for posenet_node (TensorFlow takes a few seconds to start)',
              flush=True)
        status = _run(listener, processes, options)
        # The annotated image of the last frame is published just after its poses.
        deadline = time.monotonic() + 1.0
        while out_dir is not None and len(listener.saved) < listener.frames \
                and time.monotonic() < deadline:
            rclpy.spin_once(listener, timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        print('posenet_demo: interrupted', file=sys.stderr)
        status = 130
    finally:
        for name in ('posenet_image_publisher', 'posenet_node'):
            if name in processes:
                code = stop_process(processes[name], name, interrupted=status == 130)
                if code not in (0, -signal.SIGINT) and status == 0:
                    print(f'posenet_demo: {name} exited with code {code}', file=sys.stderr)
                    status = 1
        if listener is not None:
            _summary(listener)
            listener.destroy_node()
        rclpy.try_shutdown()
    return status


def _run(listener: DemoListener, processes: dict[str, subprocess.Popen], options) -> int:
    """Spin until enough frames came; 1 with a message if a node died or nothing arrived."""
    last_progress = time.monotonic()
    frames = 0
    while listener.frames < options.frames:
        rclpy.spin_once(listener, timeout_sec=0.1)
        if listener.frames != frames:
            frames, last_progress = listener.frames, time.monotonic()
        for name, process in processes.items():
            if process.poll() is not None:
                print(f'posenet_demo: {name} stopped early (exit code {process.returncode}); '
                      'see its messages above', file=sys.stderr)
                return 1
        if time.monotonic() - last_progress > options.timeout:
            print(f"posenet_demo: no poses for {options.timeout:g} s; see posenet_node's "
                  'messages above', file=sys.stderr)
            return 1
    return 0


def _summary(listener: DemoListener) -> None:
    if not listener.frames:
        return
    latencies = np.asarray(listener.latencies_ms)
    print(f'posenet_demo: {listener.frames} frames, {np.mean(listener.people):.1f} people per '
          f'frame, latency median {np.median(latencies):.1f} ms, 90th percentile '
          f'{np.percentile(latencies, 90):.1f} ms'
          + (f'; {len(listener.saved)} annotated frames in {listener.out_dir}/'
             if listener.saved else ''), flush=True)


if __name__ == '__main__':
    sys.exit(main())
