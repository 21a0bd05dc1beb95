"""
launch/camera.launch.py run for real, with a stand-in for the v4l2_camera driver.

The driver (C++, apt) is not here; a package named v4l2_camera whose v4l2_camera_node streams a
photo on image_raw (posenet_image_publisher) takes its place, so the launch file's own wiring is
what is tested: the camera and posenet_node in the `namespace` given, posenet_node reading the
camera's image_raw with the package's parameters, poses out in that namespace.

Needs the ros2 CLI and launch: a ROS 2 install, or what scripts/setup.sh builds from
../shared/ros2_overlay.
"""
from __future__ import annotations

import re
import time

from node_support import DomainClaim
from posenet_msgs.msg import PoseArray
import pytest
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_tools_support import (assert_clean_output, GroupProcess, require_ros_tools,
                               stand_in_camera_prefix, tool_env)

pytestmark = pytest.mark.dds

require_ros_tools()

NAMESPACE = 'front'


@pytest.fixture
def stand_in_camera(tmp_path):
    """Return an ament prefix whose stand-in v4l2_camera node streams a photo to image_raw."""
    return stand_in_camera_prefix(tmp_path, '#!/bin/sh\nexec posenet_image_publisher --rate 5 '
                                            '"$@" --ros-args -r image:=image_raw\n')


def test_camera_launch_runs_the_camera_and_posenet_node_in_the_namespace(
        stand_in_camera, models_path, tmp_path):
    claim = DomainClaim('launch_camera')
    env = tool_env(claim.domain_id, models_path)
    env['AMENT_PREFIX_PATH'] = f"{stand_in_camera}:{env.get('AMENT_PREFIX_PATH', '')}"
    launch = GroupProcess(f'ros2 launch posenet_ros camera.launch.py namespace:={NAMESPACE}', env,
                          tmp_path / 'camera_launch.log')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=claim.domain_id)
    try:
        node = rclpy.create_node('camera_launch_listener', context=context)
        poses = []
        node.create_subscription(PoseArray, f'/{NAMESPACE}/poses', poses.append,
                                 QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 120.0  # TensorFlow start-up included
        while not poses and time.monotonic() < deadline and launch.running():
            executor.spin_once(timeout_sec=0.1)
        assert poses, f'no PoseArray on /{NAMESPACE}/poses:\n{launch.log()[-3000:]}'
        assert len(poses[0].poses) == 1 and poses[0].header.frame_id == 'camera'
        expected = {f'/{NAMESPACE}/posenet_node', f'/{NAMESPACE}/camera'}
        deadline = time.monotonic() + 10.0  # graph discovery may lag the first messages
        while not expected <= set(names := node.get_fully_qualified_node_names()) \
                and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert expected <= set(names), names
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
        code = launch.interrupt(group=False)  # launch passes one SIGINT on to each process
        claim.release()
    output = launch.log()
    assert code == 0, f'ros2 launch exited with {code}:\n{output[-3000:]}'
    assert len(re.findall(r'process has finished cleanly', output)) == 2, output[-3000:]
    assert_clean_output(output)
