"""
A PoseArray written from arrays and read into them equals what rclpy serializes and reads.

The node publishes `pose_array_wire.encode`'s bytes, and Python consumers may read a raw
subscription with `decode`: both must agree with the middleware's own serialization of the
message `people_to_pose_array` builds, field for field, for any people and header.
"""
from __future__ import annotations

from builtin_interfaces.msg import Time
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
from posenet_msgs.msg import Keypoint, PoseArray
from posenet_ros.engine.people import PeopleFrame
from posenet_ros.ros import pose_array_wire
from posenet_ros.ros.messages import people_to_pose_array, pose_array_to_people
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from test_ros_messages_slots import people_frames

FIELDS = ('scores', 'keypoint_scores', 'keypoint_coords', 'keypoint_positions',
          'has_keypoint_position', 'positions', 'has_position', 'track_ids')
WIRE_SETTINGS = settings(max_examples=300, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])


@st.composite
def people_and_headers(draw):
    """Any people a frame can hold (NaN pixels too) with any header."""
    count = draw(st.integers(0, 12))
    floats = st.floats(-1e6, 1e6, width=32) | st.just(float('nan'))

    def array(shape, elements=floats, dtype=np.float64):
        return draw(hnp.arrays(dtype, shape, elements=elements))

    people = PeopleFrame(
        image_width=draw(st.integers(0, 2**32 - 1)), image_height=draw(st.integers(0, 2**32 - 1)),
        scores=array(count), keypoint_scores=array((count, 17)),
        keypoint_coords=array((count, 17, 2)),
        keypoint_positions=array((count, 17, 3), st.floats(allow_nan=False, allow_infinity=False)),
        has_keypoint_position=array((count, 17), st.booleans(), bool),
        positions=array((count, 3), st.floats(allow_nan=False, allow_infinity=False)),
        has_position=array(count, st.booleans(), bool),
        track_ids=array(count, st.integers(0, 2**32 - 1), np.int64))
    frame_ids = st.text(st.characters(min_codepoint=1, exclude_categories=('Cs',)), max_size=20)
    header = Header(stamp=Time(sec=draw(st.integers(-2**31, 2**31 - 1)),
                               nanosec=draw(st.integers(0, 10**9 - 1))),
                    frame_id=draw(frame_ids))
    return people, header


def assert_same_people(actual: PeopleFrame, expected: PeopleFrame) -> None:
    assert (actual.image_width, actual.image_height) == (expected.image_width,
                                                         expected.image_height)
    for name in FIELDS:
        got, want = getattr(actual, name), getattr(expected, name)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert np.array_equal(got, want, equal_nan=True), name


def read_by_rclpy(data: bytes) -> tuple[Header, PeopleFrame]:
    message = deserialize_message(data, PoseArray)
    return message.header, pose_array_to_people(message)


def test_this_middleware_takes_the_bytes():
    assert pose_array_wire.writes_like_middleware(), \
        'rmw_fastrtps serializes plain little-endian CDR: the node should publish bytes here'


@WIRE_SETTINGS
@given(people_and_headers())
def test_encode_writes_what_the_middleware_serializes(case):
    people, header = case
    expected = serialize_message(people_to_pose_array(people, header))
    written = pose_array_wire.encode(people, header)
    assert len(written) == len(expected)
    # The middleware leaves CDR's alignment padding uninitialised: compare the fields.
    mask = pose_array_wire._Layout(len(header.frame_id.encode()) + 1, len(people)).meaningful()
    assert written[:4] == expected[:4]
    body = np.frombuffer(written, np.uint8)[4:]
    assert np.array_equal(body[mask], np.frombuffer(expected, np.uint8)[4:][mask])
    assert not body[~mask].any()  # zero padding
    # And rclpy reads the bytes back as the message.
    assert repr(deserialize_message(written, PoseArray)) == repr(
        deserialize_message(expected, PoseArray))


@WIRE_SETTINGS
@given(people_and_headers())
def test_decode_reads_what_rclpy_reads(case):
    people, header = case
    data = serialize_message(people_to_pose_array(people, header))
    decoded_header, decoded = pose_array_wire.decode(data)
    expected_header, expected = read_by_rclpy(data)
    assert decoded_header == expected_header
    assert_same_people(decoded, expected)
    # Padding added by the transport after the message is ignored.
    assert_same_people(pose_array_wire.decode(data + b'\0' * 3)[1], expected)


def test_the_node_s_people_round_trip(reference_path):
    """Real poses placed in 3D: through encode and decode as through rclpy, floats as float32."""
    header = Header(stamp=Time(sec=1712345678, nanosec=5), frame_id='camera_optical_frame')
    poses = 0
    for people in people_frames(reference_path):
        _, through_rclpy = read_by_rclpy(serialize_message(people_to_pose_array(people, header)))
        decoded_header, through_bytes = pose_array_wire.decode(
            pose_array_wire.encode(people, header))
        assert decoded_header == header
        assert_same_people(through_bytes, through_rclpy)
        np.testing.assert_allclose(through_bytes.keypoint_coords, people.keypoint_coords,
                                   rtol=1e-7)
        assert np.array_equal(through_bytes.track_ids, people.track_ids)
        poses += len(people)
    assert poses > 20


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_cut_or_damaged_bytes_are_refused_with_a_reason(data):
    people, header = data.draw(people_and_headers())
    whole = pose_array_wire.encode(people, header)
    cut = data.draw(st.integers(0, len(whole) - 1))
    with pytest.raises(ValueError, match='not a serialized PoseArray'):
        pose_array_wire.decode(whole[:cut])
    damaged = bytearray(whole)
    for _ in range(data.draw(st.integers(1, 8))):
        damaged[data.draw(st.integers(4, len(whole) - 1))] = data.draw(st.integers(0, 255))
    try:
        pose_array_wire.decode(bytes(damaged))
    except ValueError:
        pass  # named; anything else (an IndexError, a MemoryError) is a bug


def test_keypoints_out_of_part_order_are_refused():
    message = people_to_pose_array(pose_array_wire._made_up_people(np.random.default_rng(0), 2),
                                   Header())
    message.poses[1].keypoints[3] = Keypoint(part=4)
    data = serialize_message(message)
    with pytest.raises(ValueError, match='part order'):
        pose_array_wire.decode(data)
    with pytest.raises(ValueError, match='part order'):
        pose_array_to_people(deserialize_message(data, PoseArray))


def test_a_frame_id_ends_at_its_first_nul_as_the_middleware_ends_it():
    people = pose_array_wire._made_up_people(np.random.default_rng(1), 1)
    header = Header(frame_id='camera\0junk')
    written = pose_array_wire.encode(people, header)
    assert deserialize_message(written, PoseArray).header.frame_id == 'camera'
    assert pose_array_wire.decode(written)[0].frame_id == 'camera'
    assert written == pose_array_wire.encode(people, Header(frame_id='camera'))


@pytest.mark.parametrize('field, value', [('track_ids', [2**32]), ('track_ids', [-1]),
                                          ('image_width', 2**32), ('image_height', -1)])
def test_values_a_uint32_cannot_hold_are_refused_not_wrapped(field, value):
    people = pose_array_wire._made_up_people(np.random.default_rng(2), 1)
    setattr(people, field, np.array(value, dtype=np.int64) if field == 'track_ids' else value)
    with pytest.raises(ValueError, match='uint32'):
        pose_array_wire.encode(people, Header())
