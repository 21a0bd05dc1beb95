"""launch/posenet.launch.py run by launch_testing: a namespace, a remapped input, poses out.

Needs launch, launch_ros and launch_testing (a system ROS 2 install); the ROS 2 wheels from PyPI
have none of them, and there this module is skipped with the reason shown. Run it with pytest
(launch_testing's plugin) or `launch_test`.
"""
from __future__ import annotations

import time
import unittest

import pytest

REASON = ('needs launch, launch_ros and launch_testing from a ROS 2 install (not in the PyPI '
          'wheels this environment uses); test_launch_files.py checks the launch files here')
pytest.importorskip('launch', reason=REASON)
pytest.importorskip('launch_ros', reason=REASON)
launch_testing = pytest.importorskip('launch_testing', reason=REASON)

import launch  # noqa: E402
import launch_ros.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import rclpy  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from node_support import DomainClaim  # noqa: E402
from posenet_msgs.msg import PoseArray  # noqa: E402

pytestmark = pytest.mark.dds  # starts nodes and talks to them over DDS

NAMESPACE = 'launch_test'
CLAIM = DomainClaim('launch_posenet')


@pytest.mark.launch_test
def generate_test_description():
    share = get_package_share_directory('posenet_ros')
    posenet = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(f'{share}/launch/posenet.launch.py'),
        launch_arguments={'namespace': NAMESPACE, 'image': 'camera/image'}.items())
    publisher = launch_ros.actions.Node(
        package='posenet_ros', executable='posenet_image_publisher', name='photo',
        arguments=['--rate', '5'],
        remappings=[('image', f'/{NAMESPACE}/camera/image')], output='screen')
    return launch.LaunchDescription([
        launch.actions.SetEnvironmentVariable('ROS_DOMAIN_ID', str(CLAIM.domain_id)),
        launch.actions.SetEnvironmentVariable('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST'),
        posenet,
        publisher,
        launch_testing.actions.ReadyToTest(),
    ])


class TestPosesArrive(unittest.TestCase):

    def test_poses_come_on_the_namespaced_topic(self):
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=CLAIM.domain_id)
        try:
            node = rclpy.create_node('launch_test_listener', context=context)
            received = []
            node.create_subscription(PoseArray, f'/{NAMESPACE}/poses', received.append, 10)
            executor = rclpy.executors.SingleThreadedExecutor(context=context)
            executor.add_node(node)
            deadline = time.monotonic() + 120.0  # TensorFlow start-up included
            while not received and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
            self.assertTrue(received, 'no PoseArray on /launch_test/poses')
            self.assertEqual(len(received[0].poses), 1)  # Grace Hopper alone
            self.assertEqual(received[0].header.frame_id, 'camera')
        finally:
            rclpy.try_shutdown(context=context)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_every_process_exits_cleanly(self, proc_info):
        # launch stops them with SIGINT: posenet_node and the publisher exit 0.
        launch_testing.asserts.assertExitCodes(proc_info)
        CLAIM.release()
