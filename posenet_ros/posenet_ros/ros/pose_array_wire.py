"""
posenet_msgs/PoseArray as its bytes on the wire (CDR), written from and read into NumPy arrays.

A PoseArray of N people is N Poses of 17 Keypoints, each with a geometry_msgs/Point: rclpy builds
and converts those nested messages one Python object at a time, about 0.12 ms a pose each way
(publishing in the node, and again in every Python subscriber). The same content written straight
to its serialized form takes some microseconds, and rclpy publishes bytes as they are
(`Publisher.publish(bytes)`) and hands them over to a `raw=True` subscription.

The layout is plain CDR, little endian (encapsulation 0x0001, as rmw_fastrtps and the other DDS
middlewares send ROS 2 messages): each field aligned to its own size, counted from after the
4-byte encapsulation header. Since Poses start at 4 or 0 modulo 8, a Pose has one of two byte
layouts; each is computed once from the message's fields into a map from a packed NumPy record
to the wire bytes, so a whole frame is one gather (decode) or one scatter (encode).

`encode` is used by the node only where `writes_like_middleware()` confirms that the running
middleware serializes exactly these bytes (the padding aside, which it leaves uninitialised);
`decode` reads any PoseArray and falls back to rclpy for another encoding.
"""
from __future__ import annotations

import functools
import struct

from builtin_interfaces.msg import Time
import numpy as np
from posenet_msgs.msg import PoseArray
from posenet_ros.engine.parts import NUM_KEYPOINTS
from posenet_ros.engine.people import PeopleFrame
from posenet_ros.ros.cdr import align, CDR_LE, check_long_enough, HEADER_SIZE, read_header
from posenet_ros.ros.messages import people_to_pose_array, pose_array_to_people
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header

_UINT32_MAX = 2**32 - 1
_CACHED_COUNTS = 32  # layouts kept for frames of up to this many people (a few MB at most)

# The fields of the messages in their .msg order: (name, NumPy type) or (name, fields, count).
_POINT = (('x', '<f8'), ('y', '<f8'), ('z', '<f8'))
_KEYPOINT = (('part', 'u1'), ('score', '<f4'), ('x', '<f4'), ('y', '<f4'),
             ('position', _POINT, 1), ('has_position', 'u1'))
_POSE = (('score', '<f4'), ('keypoints', _KEYPOINT, NUM_KEYPOINTS), ('id', '<u4'),
         ('position', _POINT, 1), ('has_position', 'u1'))

# A Pose as a packed record, and where each record field comes from in the Pose's fields.
_K = NUM_KEYPOINTS
RECORD = np.dtype([
    ('score', '<f4'), ('part', 'u1', (_K,)), ('keypoint_score', '<f4', (_K,)),
    ('xy', '<f4', (_K, 2)), ('keypoint_position', '<f8', (_K, 3)),
    ('has_keypoint_position', 'u1', (_K,)), ('id', '<u4'), ('position', '<f8', (3,)),
    ('has_position', 'u1')])
_RECORD_SOURCES = {  # record field -> the Pose's primitive fields, in the record's order
    'score': [('score',)],
    'part': [('keypoints', k, 'part') for k in range(_K)],
    'keypoint_score': [('keypoints', k, 'score') for k in range(_K)],
    'xy': [('keypoints', k, axis) for k in range(_K) for axis in 'xy'],
    'keypoint_position': [('keypoints', k, 'position', 0, axis)
                          for k in range(_K) for axis in 'xyz'],
    'has_keypoint_position': [('keypoints', k, 'has_position') for k in range(_K)],
    'id': [('id',)],
    'position': [('position', 0, axis) for axis in 'xyz'],
    'has_position': [('has_position',)],
}


def _field_offsets(fields, offset: int, path: tuple = ()) -> tuple[dict, int]:
    """Return {field path: wire offset} of every primitive in `fields` laid out from `offset`."""
    offsets = {}
    for field in fields:
        name, kind = field[0], field[1]
        if isinstance(kind, str):
            size = np.dtype(kind).itemsize
            offset = align(offset, size)
            offsets[path + (name,)] = offset
            offset += size
            continue
        for index in range(field[2]):
            inner, offset = _field_offsets(kind, offset, path + (name, index))
            offsets.update(inner)
    return offsets, offset


class _PoseLayout:
    """A Pose's wire bytes for one start alignment: the record's byte map and the Pose's size."""

    def __init__(self, start: int):
        offsets, end = _field_offsets(_POSE, start)
        self.size = end - start
        byte_map = []
        for name in RECORD.names:
            item = RECORD.fields[name][0].base.itemsize
            for source in _RECORD_SOURCES[name]:
                byte_map.extend(range(offsets[source] - start, offsets[source] - start + item))
        self.byte_map = np.asarray(byte_map, dtype=np.int64)
        assert self.byte_map.size == RECORD.itemsize


# Poses start aligned to 4 (their first field is a float32), so 0 or 4 modulo 8 (the Points'
# doubles align to 8).
_LAYOUTS = {start: _PoseLayout(start) for start in (0, 4)}
_BYTE_MAPS = np.stack([_LAYOUTS[0].byte_map, _LAYOUTS[4].byte_map])


class _Layout:
    """Where a PoseArray's parts lie in its body (the bytes after the encapsulation header)."""

    def __init__(self, frame_id_length: int, count: int):
        self.frame_id_end = 12 + frame_id_length  # stamp, string length, the string with its NUL
        self.sizes_at = align(self.frame_id_end, 4)  # image_width, image_height, pose count
        starts = np.empty(count, dtype=np.int64)
        kinds = np.empty(count, dtype=np.int64)
        offset = self.sizes_at + 12
        for index in range(count):
            offset = align(offset, 4)
            kinds[index] = (offset % 8) // 4
            starts[index] = offset
            offset += _LAYOUTS[4 * kinds[index]].size
        self.end = offset
        self.pose_bytes = starts[:, None] + _BYTE_MAPS[kinds]  # (count, RECORD.itemsize)
        self.pose_bytes.flags.writeable = False  # shared by the frames of the same shape

    def meaningful(self) -> np.ndarray:
        """Return a mask of the body's bytes that hold fields (the rest is padding)."""
        mask = np.zeros(self.end, dtype=bool)
        mask[:self.frame_id_end] = True
        mask[self.sizes_at:self.sizes_at + 12] = True
        mask[self.pose_bytes] = True
        return mask


@functools.lru_cache(maxsize=48)
def _cached_layout(frame_id_length: int, count: int) -> _Layout:
    return _Layout(frame_id_length, count)


def _layout(frame_id_length: int, count: int) -> _Layout:
    """
    Return the layout of a PoseArray of this shape, kept for the counts a frame has.

    Made afresh is 0.09 ms right after the network, as much as the rest of `encode`; a count
    read from hostile bytes is not kept.
    """
    if count <= _CACHED_COUNTS:
        return _cached_layout(frame_id_length, count)
    return _Layout(frame_id_length, count)


def encode(people: PeopleFrame, header) -> bytes:
    """
    Return the serialized PoseArray of `people` with `header` (std_msgs/Header).

    The same message as `messages.people_to_pose_array(people, header)`: keypoints in part
    order, unknown positions NaN with their flags false; padding bytes are zero. Raises
    ValueError for an image size or a track id that a uint32 field cannot hold.
    """
    # A string field ends at its first NUL, as the middleware's own serialization ends it.
    frame_id = header.frame_id.split('\0', 1)[0].encode('utf-8')
    ids = np.asarray(people.track_ids, dtype=np.int64)
    for name, values in (('image size', [people.image_width, people.image_height]),
                         ('track id', ids)):
        if np.size(values) and not (0 <= np.min(values) and np.max(values) <= _UINT32_MAX):
            raise ValueError(f'a PoseArray cannot hold {name} {values!r} (uint32)')
    head = struct.pack(f'<iII{len(frame_id)}sx', header.stamp.sec, header.stamp.nanosec,
                       len(frame_id) + 1, frame_id)
    count = len(people)
    layout = _layout(len(frame_id) + 1, count)
    out = np.zeros(HEADER_SIZE + layout.end, dtype=np.uint8)
    out[:2] = np.frombuffer(CDR_LE, dtype=np.uint8)
    body = out[HEADER_SIZE:]
    body[:len(head)] = np.frombuffer(head, dtype=np.uint8)
    body[layout.sizes_at:layout.sizes_at + 12] = np.frombuffer(
        struct.pack('<III', people.image_width, people.image_height, count), dtype=np.uint8)
    if count:
        records = np.zeros(count, dtype=RECORD)
        records['score'] = people.scores
        records['part'] = np.arange(NUM_KEYPOINTS)
        records['keypoint_score'] = people.keypoint_scores
        records['xy'] = people.keypoint_coords
        has_keypoint = np.asarray(people.has_keypoint_position, dtype=bool)
        records['keypoint_position'] = np.where(has_keypoint[..., None],
                                                people.keypoint_positions, np.nan)
        records['has_keypoint_position'] = has_keypoint
        records['id'] = ids
        has = np.asarray(people.has_position, dtype=bool)
        records['position'] = np.where(has[:, None], people.positions, np.nan)
        records['has_position'] = has
        body[layout.pose_bytes] = records.view(np.uint8).reshape(count, -1)
    return out.tobytes()


def decode(data) -> tuple:
    """
    Return (std_msgs/Header, PeopleFrame) of a serialized PoseArray (a raw subscription's bytes).

    The inverse of `encode`, in float64 and int64 as PeopleFrame holds them. Raises ValueError
    for bytes that are not a whole PoseArray, or whose keypoints are not in part order.
    """
    data = bytes(data)
    if data[:2] != CDR_LE:  # another encoding: let the middleware's own code read it
        check_long_enough(data, PoseArray)
        try:
            message = deserialize_message(data, PoseArray)
        except Exception as error:  # rclpy's own error for bytes it cannot read
            raise ValueError(f'not a serialized PoseArray: {error}') from None
        return message.header, pose_array_to_people(message)
    body = memoryview(data)[HEADER_SIZE:]
    try:
        header, frame_id_end = read_header(body)
        width, height, count = struct.unpack_from('<III', body, align(frame_id_end, 4))
    except struct.error as error:
        raise ValueError(f'not a serialized PoseArray: {error}') from None
    length = frame_id_end - 12  # the frame id's bytes with its NUL
    if count * _LAYOUTS[4].size > len(body):  # before laying out a count read from garbage
        raise ValueError(f'not a serialized PoseArray: {len(data)} bytes cannot hold '
                         f'{count} poses')
    layout = _layout(length, count)
    if layout.end > len(body):
        raise ValueError(f'not a serialized PoseArray: {count} poses need '
                         f'{HEADER_SIZE + layout.end} bytes, got {len(data)}')
    raw = np.frombuffer(body, dtype=np.uint8)
    records = raw[layout.pose_bytes].view(RECORD).reshape(count)
    if (records['part'] != np.arange(NUM_KEYPOINTS)).any():
        raise ValueError('the keypoints are not in part order (keypoints[i].part == i), as '
                         'posenet_node publishes them')
    with np.errstate(invalid='ignore'):  # a signalling NaN from the wire stays a NaN
        people = PeopleFrame(
            image_width=int(width), image_height=int(height),
            scores=records['score'].astype(np.float64),
            keypoint_scores=records['keypoint_score'].astype(np.float64),
            keypoint_coords=records['xy'].astype(np.float64),
            keypoint_positions=records['keypoint_position'].astype(np.float64),
            has_keypoint_position=records['has_keypoint_position'] != 0,
            positions=records['position'].astype(np.float64),
            has_position=records['has_position'] != 0,
            track_ids=records['id'].astype(np.int64))
    return header, people


def pose_array_builder(as_bytes: bool | None = None):
    """
    Return what makes the PoseArray the node publishes, `build(people, header)`.

    `encode` (its bytes) where the middleware serializes the message to the same bytes
    (as_bytes None: `writes_like_middleware()`), `people_to_pose_array` (the message) elsewhere.
    """
    if as_bytes is None:
        as_bytes = writes_like_middleware()
    return encode if as_bytes else people_to_pose_array


@functools.cache  # the middleware does not change within a process
def writes_like_middleware() -> bool:
    """
    Return whether `encode` writes what the running middleware serializes, padding aside.

    Checked on made-up people: none, one and three, every keypoint and position flag, NaN and
    large values, and frame ids of every length modulo 8 and one not ASCII (so both Pose
    layouts and every header alignment). False where the middleware encodes otherwise (then
    the node publishes messages).
    """
    rng = np.random.default_rng(7)
    for frame_id in ['cameraframe'[:length] for length in range(8)] + ['cam\u00e9ra']:
        for count in (0, 1, 3):
            people = _made_up_people(rng, count)
            header = Header(stamp=Time(sec=int(rng.integers(-2**31, 2**31)),
                                       nanosec=int(rng.integers(0, 10**9))),
                            frame_id=frame_id)
            expected = serialize_message(people_to_pose_array(people, header))
            written = encode(people, header)
            if len(expected) < len(written) or expected[:2] != written[:2]:
                return False
            mask = _layout(len(header.frame_id.encode('utf-8')) + 1, count).meaningful()
            expected_body = np.frombuffer(expected, dtype=np.uint8)[HEADER_SIZE:len(written)]
            written_body = np.frombuffer(written, dtype=np.uint8)[HEADER_SIZE:]
            if not np.array_equal(expected_body[mask], written_body[mask]):
                return False
    return True


def _made_up_people(rng, count: int) -> PeopleFrame:
    has_keypoint = rng.random((count, NUM_KEYPOINTS)) < 0.5
    has = rng.random(count) < 0.5
    coords = rng.normal(300.0, 500.0, (count, NUM_KEYPOINTS, 2))
    coords[:, 0] = np.nan  # a keypoint the decoder left unplaced
    return PeopleFrame(
        image_width=int(rng.integers(1, 5000)), image_height=int(rng.integers(1, 5000)),
        scores=rng.random(count), keypoint_scores=rng.random((count, NUM_KEYPOINTS)),
        keypoint_coords=coords,
        keypoint_positions=rng.normal(0.0, 1e3, (count, NUM_KEYPOINTS, 3)),
        has_keypoint_position=has_keypoint, positions=rng.normal(0.0, 3.0, (count, 3)),
        has_position=has, track_ids=rng.integers(0, 2**32, count, dtype=np.int64))
