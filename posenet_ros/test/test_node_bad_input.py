"""
posenet_node keeps serving through bad frames and bursts, and stops cleanly on Ctrl-C.

Each bad frame must give one log line naming the topic and the cause, no PoseArray, and leave
the node answering the next good frame. The last test stops the node as a user does.
"""
from __future__ import annotations

import array
import signal
import time

from node_support import diagnostic_values, load_rgb, running_node
from posenet_ros.ros.image_conversion import rgb_to_image_msg
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image

pytestmark = pytest.mark.dds  # starts nodes and talks to them over DDS

PHOTO = 'coco_kpts/images/000000005802.jpg'  # 640x479


def raw(encoding='rgb8', width=8, height=8, step=None, size=None) -> Image:
    """Return an Image with the given header and `size` bytes of data (default: step * height)."""
    step = width * 3 if step is None else step
    size = step * height if size is None else size
    return Image(encoding=encoding, width=width, height=height, step=step,
                 data=array.array('B', bytes(size)))


BAD_FRAMES = {
    'unknown encoding': (raw(encoding='weird16'), "unsupported encoding 'weird16'"),
    'data shorter than step * height': (raw(width=10, height=10, size=299),
                                        'fewer than step * height'),
    'step smaller than width * channels': (raw(width=10, height=10, step=20),
                                           'step 20 is smaller than width * bytes per pixel'),
    'zero width': (raw(width=0, height=10, step=0), 'zero size'),
    'zero height': (raw(width=10, height=0), 'zero size'),
    'wider than 8192 px': (raw(width=9000, height=1), 'larger than MAX_IMAGE_SIDE'),
    'taller than 8192 px': (raw(width=1, height=9000), 'larger than MAX_IMAGE_SIDE'),
}


# Bytes a publisher may put on the topic (rclpy publishes bytes as they are): the node reads
# frames from their bytes. (bytes, the cause logged)
BAD_BYTES = {
    "four bytes that crash rclpy's reader": (b'\0\0\0\1', 'fewer than the 16 of its header'),
    'the pixels cut short': (serialize_message(raw(width=2, height=2))[:-4], 'bytes of data at'),
    'a string past the end': (b'\0\1\0\0' + bytes(8) + b'\xff' * 8, 'string of'),
}


@pytest.fixture(scope='module')
def good(data_path):
    return rgb_to_image_msg(load_rgb(data_path / PHOTO))


@pytest.fixture(scope='module')
def ros(models_path, good, tmp_path_factory):
    parameters = {'model': str(models_path / 'mobilenet_quant2_075')}
    with running_node('bad_input', parameters, tmp_path_factory.mktemp('node'), good) as running:
        yield running


@pytest.mark.parametrize('case', list(BAD_FRAMES))
def test_a_bad_frame_is_logged_with_topic_and_cause_and_the_node_goes_on(ros, good, case):
    node, client = ros
    message, cause = BAD_FRAMES[case]
    bad_id = client.send(message)
    # Wait for it to be taken before the good frame follows: a newer frame would replace it.
    assert node.wait_for_log(cause), f'no log line saying "{cause}"'
    (line,) = [line for line in node.log().splitlines() if cause in line][-1:]
    assert '/image' in line and 'WARN' in line
    answer = client.exchange(good)
    assert answer.header.frame_id != bad_id
    assert client.answer_to(bad_id) is None, 'a bad frame must not be answered'


@pytest.mark.parametrize('case', list(BAD_BYTES))
def test_bytes_that_are_not_an_image_are_logged_and_the_node_goes_on(ros, good, case):
    node, client = ros
    data, cause = BAD_BYTES[case]
    client.image_pub.publish(data)
    assert node.wait_for_log(cause), f'no log line saying "{cause}"'
    (line,) = [line for line in node.log().splitlines() if cause in line][-1:]
    assert 'skipping a frame from /image: not a serialized Image' in line and 'WARN' in line
    assert client.exchange(good).poses
    assert node.running() and 'Traceback' not in node.log()


def test_the_same_bad_frame_again_and_again_is_logged_once(ros, good):
    node, client = ros
    message = raw(encoding='never_seen8')
    for _ in range(20):
        client.send(message)
        client.spin_for(0.05)
    client.exchange(good)
    assert node.log().count("'never_seen8'") == 1, 'one line per cause and period'


def test_a_flaky_camera_is_logged_once_per_cause_whatever_the_byte_counts(ros, good):
    node, client = ros
    cause = 'fewer than step * height'
    before = node.log().count(cause)
    for size in range(20):  # a different byte count every frame: still one cause
        client.send(raw(width=12, height=12, size=100 + 7 * size))
        client.spin_for(0.05)
    client.exchange(good)
    assert node.log().count(cause) - before <= 1, 'one line per cause and period'


def test_a_burst_far_above_the_processing_rate_keeps_only_the_newest(ros, good):
    node, client = ros
    for _ in range(3):
        client.exchange(good)
    client.spin_for(1.2)  # a /diagnostics of these frames: the node's inference time now
    medians = [diagnostic_values(status).get('inference p50 (ms)', 'n/a')
               for status in client.diagnostic_statuses('processing', 0)]
    inference_s = float([median for median in medians if median != 'n/a'][-1]) / 1e3
    since = len(client.diagnostics)
    start = time.monotonic()
    burst = [client.send(good) for _ in range(60)]  # back to back
    sending_s = time.monotonic() - start
    answer = client.exchange(good)
    answered = [frame_id for frame_id in burst if client.answer_to(frame_id) is not None]
    # Each frame takes at least its inference (half the median, to be safe): while the burst
    # came, the node could finish only so many, then the newest; the rest were dropped.
    can_process = int(sending_s / (0.5 * inference_s)) + 3
    if can_process >= len(burst):
        pytest.skip(f'inference ({inference_s * 1e3:.1f} ms) keeps up with frames sent back to '
                    f'back ({sending_s * 1e3:.0f} ms for {len(burst)}): no burst to absorb')
    assert len(answered) <= can_process, (
        f'{len(answered)} of {len(burst)} burst frames processed in {sending_s * 1e3:.0f} ms '
        f'at {inference_s * 1e3:.1f} ms of inference a frame')
    # What was processed came in order, and the frame after the burst is answered.
    positions = [burst.index(frame_id) for frame_id in answered]
    assert positions == sorted(positions)
    assert answer is not None
    # The drops are counted by the node itself and reported on /diagnostics.
    client.spin_for(2.5)
    dropped = sum(int(diagnostic_values(status)['frames dropped'])
                  for status in client.diagnostic_statuses('input', since)
                  if 'frames dropped' in diagnostic_values(status))
    assert dropped >= (len(burst) - len(answered)) / 2, f'{dropped} dropped frames reported'


def test_ctrl_c_while_frames_arrive_exits_0_without_traceback(ros, good):
    node, client = ros
    for _ in range(5):
        client.send(good)
        client.spin_for(0.05)
    node.process.send_signal(signal.SIGINT)
    start = time.monotonic()
    for _ in range(20):  # frames keep coming while it stops
        client.send(good)
        client.spin_for(0.02)
    code = node.process.wait(timeout=20)
    print(f'posenet_node stopped {time.monotonic() - start:.2f} s after Ctrl-C')
    assert code == 0
    log = node.log()
    assert 'Traceback' not in log, log[-3000:]
