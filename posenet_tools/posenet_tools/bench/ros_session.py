"""
Timing posenet_node through ROS 2: frame latency per configuration, and under a camera rate.

The node runs in its own process (`python -m posenet_ros.ros.node`, in a private namespace so
other nodes on the machine are not disturbed); this process publishes sensor_msgs/Image frames
to it and receives its posenet_msgs/PoseArray messages over DDS, as a camera driver and a
consumer would. Two measurements:

* latency: one frame at a time, time from publishing it to receiving its PoseArray (matched by
  header stamp). The configuration is changed through the node's live parameters, so one node
  (one model and inference path) serves every stride, input size and decoding.
* camera rate: frames published at a fixed rate for a while; for each PoseArray its age at
  arrival (now - header.stamp), frames dropped by the node (it keeps only the newest), frames
  processed per second, and the node's resident memory before and after.

The measurements themselves are in `ros_measure`.
"""
from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import posenet_ros
from posenet_ros.engine.config import EstimateConfig

READY_TIMEOUT_S = 180.0       # TensorFlow start-up, weight loading, first graph
FRAME_TIMEOUT_S = 10.0        # one frame, steady state
FIRST_FRAME_TIMEOUT_S = 60.0   # after a configuration change (graph / TFLite conversion)


class RosBenchError(RuntimeError):
    """The node could not be started or stopped answering; the message says why."""


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (from /proc), None if it cannot be read."""
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return None


def undelivered_hint(frame) -> str:
    """Why a frame may never get an answer: most often DDS dropping a large best-effort sample."""
    return (f'posenet_node never answered a {frame.width}x{frame.height} {frame.encoding} frame '
            f'({len(frame.data)} bytes) within {FIRST_FRAME_TIMEOUT_S:.0f} s. Fast DDS (the '
            'default RMW) loses best-effort messages larger than about 512 KB unless '
            'FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA is set for both processes; or pass '
            '--image-reliability reliable.')


def node_parameters(config: EstimateConfig) -> dict:
    """
    Return the node's live parameters for an EstimateConfig.

    Poses all published, as in-process.
    """
    return {'output_stride': int(config.output_stride), 'input_height': int(config.input_height),
            'input_width': int(config.input_width), 'decoding': config.decoding,
            'max_pose_detections': int(config.max_pose_detections),
            'score_threshold': float(config.score_threshold),
            'nms_radius': float(config.nms_radius),
            'flip_horizontal': bool(config.flip_horizontal), 'min_pose_score': 0.0,
            'publish_markers': False, 'publish_image': False}


def _ros_arg(name: str, value) -> str:
    if isinstance(value, bool):
        text = 'true' if value else 'false'
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return f'{name}:={text}'


class NodeProcess:
    """posenet_node in a child process, in its own namespace, with its output in a log file."""

    def __init__(self, model: str, backend: str | None, config: EstimateConfig,
                 namespace: str | None = None, image_reliability: str | None = None,
                 extra_parameters: dict | None = None, package_root: str | None = None):
        self.namespace = namespace or f'/posenet_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}'
        self.model = model
        self.backend = backend
        self.config = config
        self.image_reliability = image_reliability
        self.extra_parameters = extra_parameters or {}
        # The posenet_ros the node runs: this process's, or another checkout's (comparisons).
        self.package_root = package_root or str(Path(posenet_ros.__file__).resolve().parents[1])
        self.process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix='posenet_node_', suffix='.log',
                                                delete=False)

    def start(self) -> None:
        command = [sys.executable, '-m', 'posenet_ros.ros.node', '--ros-args',
                   '-r', f'__ns:={self.namespace}', '-p', _ros_arg('model', self.model)]
        if self.backend:
            command += ['-p', _ros_arg('backend', self.backend)]
        for name, value in {**node_parameters(self.config), **self.extra_parameters}.items():
            command += ['-p', _ros_arg(name, value)]
        if self.image_reliability:  # the node's standard QoS override of its image subscription
            command += ['-p', f'qos_overrides.{self.namespace}/image.subscription.reliability:='
                              f'{self.image_reliability}']
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [self.package_root] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
        try:
            self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env)
        except OSError as error:  # the reason, as for a node that starts and fails
            raise RosBenchError(f'cannot start posenet_node: {error}') from error

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        """Return what the node has logged so far ('' once stopped)."""
        try:
            return Path(self._log.name).read_text(errors='replace')
        except OSError:
            return ''

    def log_tail(self, lines: int = 15) -> str:
        return '\n'.join(self.log_text().splitlines()[-lines:])

    def check_alive(self) -> None:
        if not self.alive():
            code = self.process.returncode if self.process else None
            raise RosBenchError(f'posenet_node exited (code {code}):\n{self.log_tail()}')

    def stop(self, timeout_s: float = 15.0) -> None:
        """Ctrl-C the node (its clean shutdown path), then terminate it if it hangs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(5.0)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


class BenchClient:
    """The camera and the consumer: publishes frames to the node, collects its PoseArrays."""

    def __init__(self, namespace: str):
        import rclpy
        from rclpy.signals import SignalHandlerOptions

        self._context = rclpy.Context()
        # No rclpy signal handlers: Ctrl-C stays a KeyboardInterrupt for the calling program.
        rclpy.init(context=self._context, signal_handler_options=SignalHandlerOptions.NO)
        try:
            self._start(namespace)
        except BaseException:  # no context left initialized by a client that never was
            rclpy.try_shutdown(context=self._context)
            raise

    def _start(self, namespace: str) -> None:
        """Create the client node, its publisher, subscription and threads in the context."""
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter_client import AsyncParameterClient
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        from posenet_msgs.msg import PoseArray
        from posenet_ros.ros.frame_reader import DirectSubscription
        from posenet_ros.ros.pose_array_wire import decode

        self.node = rclpy.create_node(f'posenet_bench_client_{uuid.uuid4().hex[:6]}',
                                      context=self._context)
        # Like a camera driver: the node's sensor-data subscription gets best-effort delivery.
        self.publisher = self.node.create_publisher(
            Image, f'{namespace}/image',
            QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                       history=HistoryPolicy.KEEP_LAST))
        # Read by a thread of its own, as the node reads its frames: arrival times are not
        # delayed by this process's executor (which serves the parameter client). Taken as
        # bytes and read into arrays (`pose_array_wire.decode`), as a consumer computing on the
        # poses would; `message_cost_ms` gives what rclpy's messages would add.
        self.poses = DirectSubscription(
            self.node, PoseArray, f'{namespace}/poses',
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                       history=HistoryPolicy.KEEP_LAST), raw=True)
        self._decode = decode
        self.keep_bytes = False  # keep each PoseArray's bytes for message_cost_ms
        self._received: dict[int, bytes] = {}  # stamp ns -> the PoseArray's bytes
        self.parameters = AsyncParameterClient(self.node, f'{namespace}/posenet_node')
        self._condition = threading.Condition()
        self._arrivals: dict[int, tuple[float, int]] = {}  # stamp ns -> (perf_counter, clock ns)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._closing = threading.Event()
        self._spinner = threading.Thread(target=self._spin, name='bench_client', daemon=True)
        self._spinner.start()
        self._reader = threading.Thread(target=self._read_poses, name='bench_poses', daemon=True)
        self._reader.start()

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # shut down under it
            pass

    def _read_poses(self) -> None:
        while not self._closing.is_set():
            try:
                taken = self.poses.take_all(timeout_s=0.1)
            except Exception:  # the context went down under the wait
                return
            if not taken:
                continue
            read = []
            for data, _ in taken:
                try:
                    read.append((self._decode(data)[0], data))
                except ValueError:  # not a whole PoseArray: that frame counts as lost
                    pass
            arrived = time.perf_counter()
            now_ns = self.node.get_clock().now().nanoseconds
            with self._condition:
                for header, data in read:
                    stamp = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
                    self._arrivals[stamp] = (arrived, now_ns)
                    if self.keep_bytes:
                        self._received[stamp] = data
                self._condition.notify_all()

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def publish(self, msg) -> tuple[int, float]:
        """Stamp a frame with the current time and publish it: (stamp ns, perf_counter)."""
        stamp_ns = self.now_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        sent = time.perf_counter()
        self.publisher.publish(msg)
        return stamp_ns, sent

    def wait_for(self, stamp_ns: int, timeout_s: float) -> float | None:
        """perf_counter time at which the PoseArray of that frame arrived, or None."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while stamp_ns not in self._arrivals:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._condition.wait(left)
            return self._arrivals.pop(stamp_ns)[0]

    def take_arrivals(self) -> dict[int, tuple[float, int]]:
        with self._condition:
            arrivals, self._arrivals = self._arrivals, {}
            self._received = {}
            return arrivals

    def message_cost_ms(self, stamp_ns: int, rounds: int = 3) -> float | None:
        """
        Return how much later a consumer taking rclpy messages would have had that PoseArray.

        rclpy's deserialization of its bytes less `decode`'s, the faster of `rounds` each (warm
        caches: a message consumer pays at least this); run between frames, not while one is
        timed. None if it did not come, or came while `keep_bytes` was off.
        """
        from posenet_msgs.msg import PoseArray
        from rclpy.serialization import deserialize_message
        with self._condition:
            data = self._received.pop(stamp_ns, None)
        if data is None:
            return None

        def fastest(read) -> float:
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                read()
                times.append(time.perf_counter() - start)
            return min(times)
        return (fastest(lambda: deserialize_message(data, PoseArray))
                - fastest(lambda: self._decode(data))) * 1e3

    def wait_connected(self, node: NodeProcess, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until the node subscribes to our frames, publishes poses and serves parameters."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            node.check_alive()
            if (self.publisher.get_subscription_count() > 0
                    and self.poses.subscription.get_publisher_count() > 0
                    and self.parameters.services_are_ready()):
                return
            time.sleep(0.1)
        raise RosBenchError(f'posenet_node did not come up within {timeout_s:.0f} s:\n'
                            f'{node.log_tail()}')

    def set_parameters(self, values: dict, timeout_s: float = 10.0) -> None:
        from rclpy.parameter import Parameter
        future = self.parameters.set_parameters(
            [Parameter(name, value=value) for name, value in values.items()])
        deadline = time.monotonic() + timeout_s
        while not future.done():
            if time.monotonic() > deadline:
                raise RosBenchError('posenet_node did not answer a parameter change')
            time.sleep(0.01)
        failed = [r.reason for r in future.result().results if not r.successful]
        if failed:
            raise RosBenchError(f'posenet_node refused the parameters: {"; ".join(failed)}')

    def close(self) -> None:
        import rclpy
        self._closing.set()
        self._reader.join(timeout=2.0)
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self._context)
        self._spinner.join(timeout=2.0)


@dataclass
class RosSession:
    """One node (model + inference path) and the client talking to it; a context manager."""

    model: str
    backend: str | None
    config: EstimateConfig
    image_reliability: str | None = None  # None: the node's default (best effort)
    extra_parameters: dict | None = None  # e.g. precision int8 and its int8_calibration

    def __enter__(self) -> 'RosSession':
        self.node = NodeProcess(self.model, self.backend, self.config,
                                image_reliability=self.image_reliability,
                                extra_parameters=self.extra_parameters)
        self.client = None
        try:  # a node that cannot start, or a client that cannot, leave nothing behind
            self.node.start()
            self.client = BenchClient(self.node.namespace)
            self.client.wait_connected(self.node)
        except BaseException:
            if self.client is not None:
                self.client.close()
            self.node.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.client.close()
        finally:
            self.node.stop()
