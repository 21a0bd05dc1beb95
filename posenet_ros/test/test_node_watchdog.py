"""
The frame worker's watchdog: a worker stuck on one frame is replaced while the camera sends.

The node runs in this process (so the hang can be made), with its real executor, parameters and
publishers, talking over DDS to a client on the same domain. No known input hangs a frame, so
the first frame's processing is replaced by one that blocks until the test lets it go; the
watchdog's 30 s threshold is shortened to keep the test quick.
"""
from __future__ import annotations

import threading

from diagnostic_msgs.msg import DiagnosticStatus
from node_support import DomainClaim, load_rgb, PoseNetClient
from posenet_ros.ros import node as node_module
from posenet_ros.ros.image_conversion import rgb_to_image_msg
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

pytestmark = pytest.mark.dds

MODEL = 'mobilenet_quant2_075'


def test_a_worker_stuck_on_a_frame_is_replaced_and_the_poses_go_on(
        models_path, data_path, monkeypatch):
    monkeypatch.setattr(node_module, 'STUCK_FRAME_S', 1.0)
    claim = DomainClaim('watchdog')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=claim.domain_id)
    release = threading.Event()
    client = executor = spinner = None
    try:
        node = node_module.PoseNetNode(context=context, parameter_overrides=[
            Parameter('model', value=str(models_path / MODEL)),
            Parameter('qos_overrides./image.subscription.reliability', value='reliable')])
        real_process = node._process
        hung = []

        def process(message):
            if not hung:  # the first frame hangs, as a deadlock in a stage would
                hung.append(threading.current_thread())
                release.wait(120.0)  # longer than the test waits for poses
                return
            real_process(message)

        node._process = process  # what the frame worker calls, from activate on
        assert node.start_up(), node.configure_error or node.activate_error
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        client = PoseNetClient(claim.domain_id)
        answer = client.exchange(rgb_to_image_msg(load_rgb(data_path / 'smoke' / 'zidane.jpg')),
                                 timeout_s=30.0, resend_every_s=1.0)
        # Answered while the first frame is still held: by a new worker thread.
        assert answer.poses and hung and hung[0].is_alive() and not release.is_set()
        status = client.wait_for_diagnostic(
            'processing', lambda s: s.level == DiagnosticStatus.ERROR, timeout_s=5.0, since=0)
        assert 'has been on one frame' in status.message and '(restarted)' in status.message, \
            status.message
    finally:
        release.set()
        if client is not None:
            client.close()
        if executor is not None:
            executor.shutdown()
        if 'node' in locals():
            node.shut_down()
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        if spinner is not None:
            spinner.join(5.0)
        claim.release()
