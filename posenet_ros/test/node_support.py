"""
Running posenet_node as its own process and talking to it over DDS, for the node tests.

Each test module gets a ROS domain of its own (claimed with a lock file, so parallel test runs on
the same machine never hear each other) and discovery limited to this machine.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Iterator

from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
import numpy as np
from PIL import Image as PILImage
from posenet_msgs.msg import PoseArray
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters, SetParameters
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import MarkerArray

NODE_NAME = 'posenet_node'
PACKAGE_DIR = Path(__file__).resolve().parents[1]

# As env.sh does: a Fast DDS shared-memory segment large enough for camera-sized best-effort
# frames between local processes (config/fastdds_large_images.xml explains why).
if os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp') == 'rmw_fastrtps_cpp' and not (
        os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE')
        or os.environ.get('FASTRTPS_DEFAULT_PROFILES_FILE')):
    os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = str(
        PACKAGE_DIR / 'config' / 'fastdds_large_images.xml')
START_TIMEOUT_S = 120.0   # TensorFlow import, weights, warm-up on a busy 2-core machine
ANSWER_TIMEOUT_S = 30.0   # one frame, including a first build for a new stride or size


class DomainClaim:
    """A ROS_DOMAIN_ID (1..100) no other test module on this machine holds right now."""

    def __init__(self, salt: str):
        start = (os.getpid() * 31 + sum(map(ord, salt))) % 100
        for offset in range(100):
            domain_id = 1 + (start + offset) % 100
            path = Path(tempfile.gettempdir()) / f'posenet_ros_test_domain_{domain_id}.lock'
            lock = open(path, 'w')
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                continue
            self.domain_id, self._lock = domain_id, lock
            return
        raise RuntimeError('no free ROS domain id in 1..100 for the test')

    def release(self) -> None:
        self._lock.close()


def node_command(parameters: dict[str, Any],
                 remaps: dict[str, str] | None = None) -> list[str]:
    """Return the installed `posenet_node` (as a user runs it), or the module if not installed."""
    executable = shutil.which('posenet_node')
    command = [executable] if executable else [sys.executable, '-m', 'posenet_ros.ros.node_main']
    command.append('--ros-args')
    for name, value in parameters.items():
        command += ['-p', f'{name}:={_ros_arg(value)}']
    for name, target in (remaps or {}).items():
        command += ['-r', f'{name}:={target}']
    return command


def _ros_arg(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


class NodeProcess:
    """posenet_node in a subprocess, its stdout and stderr going to a log file."""

    def __init__(self, domain_id: int, parameters: dict[str, Any], log_path: Path,
                 remaps: dict[str, str] | None = None):
        self.log_path = log_path
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id),
                   ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1',
                   RCUTILS_LOGGING_BUFFERED_STREAM='0', RCUTILS_COLORIZED_OUTPUT='0')
        self._log = open(log_path, 'wb')
        self.process = subprocess.Popen(node_command(parameters, remaps), stdout=self._log,
                                        stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        return self.log_path.read_text(errors='replace')

    def running(self) -> bool:
        return self.process.poll() is None

    def interrupt(self, timeout_s: float = 20.0) -> int:
        """Ctrl-C, as a user stops it; the exit code (killed, and -9, if it does not stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def wait_for_log(self, text: str, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.1)
        return text in self.log()


class PoseNetClient:
    """
    The test's side of the node's topics and parameter services.

    Publishes images, receives poses, markers and annotated images, and calls the node's
    parameter services. Lives in its own rclpy context on the test's domain.
    """

    def __init__(self, domain_id: int, compressed: bool = False):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node('posenet_test_client', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                              history=HistoryPolicy.KEEP_LAST)
        if compressed:
            self.image_pub = self.node.create_publisher(CompressedImage, 'image/compressed',
                                                        reliable)
        else:
            self.image_pub = self.node.create_publisher(Image, 'image', reliable)
        self.poses: list[PoseArray] = []
        self.markers: list[MarkerArray] = []
        self.images: list[Image] = []
        self.node.create_subscription(PoseArray, 'poses', self.poses.append, reliable)
        self._frame = 0
        self._set_client = self.node.create_client(SetParameters, f'/{NODE_NAME}/set_parameters')
        self._get_client = self.node.create_client(GetParameters, f'/{NODE_NAME}/get_parameters')
        self._visual_subscriptions = []
        self.diagnostics: list[DiagnosticArray] = []
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append, 10)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    # -- spinning ------------------------------------------------------------------------------

    def spin_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=0.05)
        return True

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    # -- frames --------------------------------------------------------------------------------

    def new_frame_id(self) -> str:
        self._frame += 1
        return f'test_frame_{self._frame}'

    def send(self, message, frame_id: str | None = None) -> str:
        """Publish an image stamped now, with a frame_id that names it; returns the frame_id."""
        message.header.frame_id = frame_id or self.new_frame_id()
        message.header.stamp = self.node.get_clock().now().to_msg()
        self.image_pub.publish(message)
        return message.header.frame_id

    def answer_to(self, frame_id: str) -> PoseArray | None:
        for poses in self.poses:
            if poses.header.frame_id == frame_id:
                return poses
        return None

    def exchange(self, message, timeout_s: float = ANSWER_TIMEOUT_S,
                 resend_every_s: float = 3.0) -> PoseArray:
        """Send a frame and wait for its PoseArray; re-sent if lost (best-effort input)."""
        frame_id = self.new_frame_id()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.send(message, frame_id)
            if self.spin_until(lambda: self.answer_to(frame_id) is not None,
                               min(resend_every_s, deadline - time.monotonic())):
                return self.answer_to(frame_id)
        raise AssertionError(f'no PoseArray answered frame {frame_id} within {timeout_s:g} s')

    def wait_until_serving(self, message, node: NodeProcess,
                           timeout_s: float = START_TIMEOUT_S) -> PoseArray:
        """Send the frame until the starting node answers it (or fail with the node's log)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not node.running():
                raise AssertionError(f'posenet_node exited with code {node.process.returncode}:\n'
                                     f'{node.log()[-3000:]}')
            try:
                return self.exchange(message, timeout_s=3.0, resend_every_s=1.0)
            except AssertionError:
                continue
        raise AssertionError(f'posenet_node did not answer within {timeout_s:g} s:\n'
                             f'{node.log()[-3000:]}')

    def subscribe_visualization(self) -> None:
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                              history=HistoryPolicy.KEEP_LAST)
        self._visual_subscriptions = [
            self.node.create_subscription(MarkerArray, 'poses/markers', self.markers.append,
                                          reliable),
            self.node.create_subscription(Image, 'poses/image', self.images.append, reliable)]

    def unsubscribe_visualization(self) -> None:
        for subscription in self._visual_subscriptions:
            self.node.destroy_subscription(subscription)
        self._visual_subscriptions = []

    # -- diagnostics ---------------------------------------------------------------------------

    def diagnostic_statuses(self, aspect: str, since: int = 0) -> list:
        """
        Return the node's DiagnosticStatus named '<node>: <aspect>', oldest first.

        One from every message since index `since` of `self.diagnostics` that holds it.
        """
        name = f'{NODE_NAME}: {aspect}'
        return [status for array in self.diagnostics[since:] for status in array.status
                if status.name == name]

    def wait_for_diagnostic(self, aspect: str, done: Callable[[Any], bool],
                            timeout_s: float = 10.0, since: int | None = None):
        """
        Wait for the first status of `aspect` for which `done` holds.

        From now, or from index `since`.
        """
        start = len(self.diagnostics) if since is None else since
        found = []

        def check() -> bool:
            found[:] = [s for s in self.diagnostic_statuses(aspect, start) if done(s)]
            return bool(found)

        assert self.spin_until(check, timeout_s), (
            f'no {aspect} diagnostics as expected within {timeout_s:g} s; last: '
            f'{self.diagnostic_statuses(aspect, start)[-1:]}')
        return found[0]

    # -- parameters ----------------------------------------------------------------------------

    def set_parameters(self, **values) -> list:
        """Call posenet_node's set_parameters service; one SetParametersResult per value."""
        request = SetParameters.Request(parameters=[
            Parameter(name, value=value).to_parameter_msg() for name, value in values.items()])
        return self._call(self._set_client, request).results

    def get_parameter(self, name: str):
        response = self._call(self._get_client, GetParameters.Request(names=[name]))
        value = response.values[0]
        assert value.type != ParameterType.PARAMETER_NOT_SET, f'{name} is not declared'
        return parameter_value_to_python(value)

    def _call(self, client, request, attempts: int = 3, timeout_s: float = 5.0):
        """
        Return the service's response to `request`, sent again if it goes unanswered.

        For requests that may be repeated (getting state or parameters, setting the same
        values): a node answering before its response writer has discovered this client loses
        the response (Fast DDS waits 100 ms for that, then logs "client will not receive
        response"), which happens on a loaded machine right after a node starts.
        """
        assert client.wait_for_service(timeout_sec=10.0), f'{client.srv_name} is not available'
        for _ in range(attempts):
            future = client.call_async(request)
            if self.spin_until(future.done, timeout_s):
                return future.result()
            client.remove_pending_request(future)
        raise AssertionError(f'{client.srv_name} did not answer {attempts} requests')


class Lifecycle:
    """Calls the node's lifecycle services from the test client."""

    def __init__(self, client: PoseNetClient):
        self.client = client
        self._change = client.node.create_client(ChangeState, f'/{NODE_NAME}/change_state')
        self._get = client.node.create_client(GetState, f'/{NODE_NAME}/get_state')

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """
        Wait until both services answer: get_state, and change_state refusing a transition.

        A refused transition changes nothing and may be sent again, so a response lost while
        discovery completes (see `PoseNetClient._call`) is lost here rather than for a
        transition that happened.
        """
        assert self.client.spin_until(lambda: self._get.service_is_ready()
                                      and self._change.service_is_ready(), timeout_s)
        self.state()
        refused = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CREATE))
        assert not self.client._call(self._change, refused).success

    def state(self) -> str:
        return self.client._call(self._get, GetState.Request()).current_state.label

    def change(self, transition_id: int, timeout_s: float = 120.0) -> bool:
        assert self._change.wait_for_service(timeout_sec=30.0)
        future = self._change.call_async(ChangeState.Request(
            transition=Transition(id=transition_id)))
        assert self.client.spin_until(future.done, timeout_s), 'change_state did not answer'
        return future.result().success


def image_subscribers(client: PoseNetClient) -> list:
    """Return posenet_node's subscriptions to the camera topic (none unless it is active)."""
    return [info for info in client.node.get_subscriptions_info_by_topic('/image')
            if info.node_name == NODE_NAME]


@contextlib.contextmanager
def running_node(name: str, parameters: dict[str, Any], log_dir: Path, first_message,
                 compressed: bool = False) -> Iterator[tuple[NodeProcess, PoseNetClient]]:
    """
    Start posenet_node on a domain of its own, answering `first_message`.

    Ctrl-C at the end.
    """
    claim = DomainClaim(name)
    node = client = None
    try:
        node = NodeProcess(claim.domain_id, parameters, log_dir / f'{name}.log')
        client = PoseNetClient(claim.domain_id, compressed=compressed)
        client.wait_until_serving(first_message, node)
        yield node, client
    finally:
        if client is not None:
            client.close()
        if node is not None:
            node.interrupt()
        claim.release()


# Libraries only TensorFlow itself loads (LiteRT brings its own, differently named ones).
TENSORFLOW_LIBRARIES = ('libtensorflow_framework', '_pywrap_tensorflow_internal')


def tensorflow_libraries_loaded(pid: int) -> list[str]:
    maps = Path(f'/proc/{pid}/maps').read_text()
    return sorted({line.rsplit('/', 1)[-1].strip() for line in maps.splitlines()
                   if any(name in line for name in TENSORFLOW_LIBRARIES)})


# -- photos and expected results ----------------------------------------------------------------

# Settings that need a network built for a new size or stride: the node keeps serving frames at
# the previous size while it builds in the background, then switches.
NETWORK_SETTINGS = ('output_stride', 'input_width', 'input_height', 'match_aspect_ratio')


def exchange_until_same(client, message, expected, previous, min_pose_score: float,
                        timeout_s: float = 60.0) -> int:
    """
    Exchange frames until the answer holds `expected`'s poses.

    Every answer before it must hold `previous`'s (frames went on with the old settings, none was
    lost or wrong; None: not checked). Returns how many frames came before the switch.
    """
    deadline = time.monotonic() + timeout_s
    before = 0
    while True:
        answer = client.exchange(message)
        try:
            assert_same_poses(answer, expected, min_pose_score)
            return before
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            if previous is not None:
                assert_same_poses(answer, previous, min_pose_score)
            before += 1


def diagnostic_values(status) -> dict[str, str]:
    """Return the key-values of a DiagnosticStatus as a dict."""
    return {pair.key: pair.value for pair in status.values}


@contextlib.contextmanager
def node_in_this_process(name: str, parameters: dict,
                         prepare: Callable[[Any], None] | None = None) -> Iterator[tuple]:
    """
    Yield (node, client): posenet_node in this process, started up and spun by an executor.

    For tests that reach into the node (hold a frame, wrap what it calls): `prepare(node)` runs
    before start_up. The node talks over DDS on a claimed domain to a PoseNetClient.
    """
    from posenet_ros.ros.node import PoseNetNode
    claim = DomainClaim(name)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=claim.domain_id)
    client = executor = spinner = node = None
    try:
        node = PoseNetNode(context=context, parameter_overrides=[
            Parameter(key, value=value) for key, value in parameters.items()])
        if prepare is not None:
            prepare(node)
        assert node.start_up(), node.configure_error or node.activate_error
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        client = PoseNetClient(claim.domain_id)
        yield node, client
    finally:
        if client is not None:
            client.close()
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.shut_down()
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        if spinner is not None:
            spinner.join(5.0)
        claim.release()


def load_rgb(path: Path):
    """Return a photo decoded as the engine's tools and the reference decode it."""
    with PILImage.open(path) as image:
        return np.asarray(image.convert('RGB'))


def assert_same_poses(message: PoseArray, result, min_pose_score: float) -> None:
    """Assert that the PoseArray holds exactly the engine's poses scoring >= min_pose_score."""
    expected = [pose for pose in result.poses if pose.score >= min_pose_score]
    assert message.image_width == result.image_width
    assert message.image_height == result.image_height
    assert len(message.poses) == len(expected), (
        f'{len(message.poses)} poses published, the engine finds {len(expected)}')
    for got, want in zip(message.poses, expected):
        assert [keypoint.part for keypoint in got.keypoints] == list(range(17))
        np.testing.assert_allclose(got.score, want.score, atol=1e-5)
        np.testing.assert_allclose([k.score for k in got.keypoints], want.keypoint_scores,
                                   atol=1e-5)
        np.testing.assert_allclose([(k.x, k.y) for k in got.keypoints], want.keypoint_coords,
                                   atol=1e-3)
