"""
Nothing a camera or a caller sends silences posenet_node.

Frames that once ended its worker thread for good (a compressed image whose header OpenCV
rejects with cv2.error), bytes that are not a message at all (the node reads frames raw), a
burst of fuzzed JPEG and PNG frames made by mutating a real photo's bytes, and set_parameters
requests with invalid parameter types: after each, the node must still answer a good frame with
the person in it, and its log must hold no traceback.
"""
from __future__ import annotations

from node_support import diagnostic_values, load_rgb, NODE_NAME, running_node
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterValue
from rcl_interfaces.srv import SetParameters, SetParametersAtomically
from sensor_msgs.msg import CompressedImage
from test_node_compressed import compressed

pytestmark = pytest.mark.dds

MODEL = 'mobilenet_quant2_075'
PHOTO = 'coco_kpts/images/000000005802.jpg'  # one person, 640x479
FUZZED_FRAMES = 300
SEED = 20261201

# Frames whose decoding raised cv2.error out of the conversion (each one ended the worker).
HDR_TOO_LARGE = (b'#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 100000 +X 100000\n' + bytes(20))
HDR_NO_FORMAT = b'#?RADIANCE\n\n-Y 2 +X 2\n\x01\x02'
KILLERS = {'radiance header of 10^10 pixels': HDR_TOO_LARGE,
           'radiance header without a format': HDR_NO_FORMAT}


def mutated(data: bytes, rng: np.random.Generator) -> bytes:
    """Return the bytes with a few random changes: flipped bytes, a cut, or a repeated chunk."""
    buffer = bytearray(data)
    kind = rng.integers(3)
    if kind == 0:
        for position in rng.integers(0, len(buffer), size=rng.integers(1, 9)):
            buffer[position] = int(rng.integers(256))
    elif kind == 1:
        buffer = buffer[:int(rng.integers(1, len(buffer)))]
    else:
        start = int(rng.integers(0, len(buffer) - 64))
        buffer[start:start] = buffer[start:start + int(rng.integers(1, 64))] * 4
    return bytes(buffer)


@pytest.fixture(scope='module')
def rgb(data_path):
    return load_rgb(data_path / PHOTO)


@pytest.fixture(scope='module')
def good(rgb):
    return compressed(rgb, '.jpg', 'jpeg')


@pytest.fixture(scope='module')
def ros(models_path, good, tmp_path_factory):
    parameters = {'model': str(models_path / MODEL), 'use_compressed': True}
    with running_node('hostile', parameters, tmp_path_factory.mktemp('node'), good,
                      compressed=True) as running:
        yield running


def assert_serving(node, client, good) -> None:
    answer = client.exchange(good)
    assert answer.poses and answer.poses[0].score > 0.3, 'the person was not found'
    log = node.log()
    assert 'Traceback' not in log, log[-3000:]
    assert 'worker thread has ended' not in log, log[-3000:]


@pytest.mark.parametrize('case', list(KILLERS))
def test_a_frame_that_used_to_end_the_worker_is_skipped_with_a_reason(ros, good, case):
    node, client = ros
    before = rejected_so_far(client)
    # Sent until the node has counted it as rejected (/diagnostics; the log says it once per
    # cause and 5 s, and both frames may share a cause).
    for _ in range(10):
        client.send(CompressedImage(format='hdr', data=KILLERS[case]))
        client.spin_for(1.2)
        if rejected_so_far(client) > before:
            break
    assert rejected_so_far(client) > before, node.log()[-2000:]
    assert 'skipping a frame from /image/compressed' in node.log()
    assert_serving(node, client, good)


@pytest.mark.parametrize('data, cause', [
    (b'\0\0\0\1', 'fewer than the 16 of its header'),  # crashed rclpy's reader (Fast CDR)
    (b'\0\1\0\0', 'requires a buffer'),  # no fields
    (b'\0\1\0\0' + b'\xff' * 40, 'overruns'),  # a frame id longer than the bytes
    (b'\xde\xad' * 30, 'failed to deserialize')],  # not CDR: rclpy's reader refuses
    ids=['four bytes', 'no fields', 'lengths past the end', 'not CDR'])
def test_bytes_that_are_not_an_image_are_skipped_with_a_reason(ros, good, data, cause):
    """A publisher may put any bytes on the topic (rclpy publishes bytes as they are)."""
    node, client = ros
    before = rejected_so_far(client)
    for _ in range(10):
        client.image_pub.publish(data)
        client.spin_for(1.2)
        if rejected_so_far(client) > before:
            break
    assert rejected_so_far(client) > before, node.log()[-2000:]
    assert node.wait_for_log(cause), f'no log line saying "{cause}"'
    assert_serving(node, client, good)


def rejected_so_far(client) -> int:
    """Frames the node has refused as bad input since it started (its latest /diagnostics)."""
    statuses = [diagnostic_values(status) for status in client.diagnostic_statuses('input')]
    totals = [int(values['frames rejected since start']) for values in statuses
              if 'frames rejected since start' in values]
    return totals[-1] if totals else 0


def test_a_burst_of_fuzzed_frames_then_a_good_one_is_answered(ros, rgb, good):
    node, client = ros
    rng = np.random.default_rng(SEED)
    sources = [bytes(good.data), bytes(compressed(rgb, '.png', 'png').data)]
    for index in range(FUZZED_FRAMES):
        data = mutated(sources[index % 2], rng)
        client.send(CompressedImage(format='jpeg' if index % 2 == 0 else 'png', data=data))
        client.spin_for(0.01)
    assert_serving(node, client, good)


def _invalid_type_entry(name: str) -> ParameterMsg:
    return ParameterMsg(name=name, value=ParameterValue(type=99, integer_value=8))


def test_set_parameters_with_an_invalid_type_is_refused_and_the_node_goes_on(ros, good):
    node, client = ros
    set_each = client.node.create_client(SetParameters, f'/{NODE_NAME}/set_parameters')
    request = SetParameters.Request(parameters=[
        _invalid_type_entry('output_stride'),
        ParameterMsg(name='min_pose_score', value=ParameterValue(type=3, double_value=0.2))])
    results = client._call(set_each, request).results
    assert [result.successful for result in results] == [False, True]
    assert 'invalid type 99' in results[0].reason
    atomically = client.node.create_client(
        SetParametersAtomically, f'/{NODE_NAME}/set_parameters_atomically')
    result = client._call(atomically, SetParametersAtomically.Request(
        parameters=[_invalid_type_entry('no_such_parameter')])).result
    assert not result.successful and 'invalid type 99' in result.reason
    assert client.get_parameter('min_pose_score') == pytest.approx(0.2)
    assert client.get_parameter('output_stride') == 16
    assert node.running()
    assert_serving(node, client, good)
