"""
What the node's readers and writers of serialized messages share: plain CDR, little endian.

ROS 2 middlewares send a message as a 4-byte encapsulation header (id and options) followed by
its fields in .msg order, each aligned to its own size counted from after that header. Strings
are a uint32 length (the terminating NUL included) and the bytes; sequences a uint32 count and
the elements.
"""
from __future__ import annotations

import struct

from builtin_interfaces.msg import Time
from std_msgs.msg import Header

CDR_LE = b'\x00\x01'  # plain CDR, little endian: the encapsulation read and written here
HEADER_SIZE = 4  # encapsulation id and options; alignment counts from after them
# Every message starting with a std_msgs/Header is at least this long: stamp and string length.
MIN_STAMPED_SIZE = HEADER_SIZE + 12


def check_long_enough(data: bytes, message_type) -> None:
    """
    Refuse (ValueError) bytes too short for a message that starts with a std_msgs/Header.

    For bytes handed to rclpy's `deserialize_message`: with rmw_fastrtps it crashes the process
    (a segmentation fault in Fast CDR) on some payloads of 4 bytes or fewer, e.g. 00 00 00 01.
    """
    if len(data) < MIN_STAMPED_SIZE:
        raise ValueError(f'not a serialized {message_type.__name__}: {len(data)} bytes, fewer '
                         f'than the {MIN_STAMPED_SIZE} of its header')


def align(offset: int, size: int) -> int:
    """Return `offset` rounded up to a multiple of `size`."""
    return offset + (-offset) % size


def read_uint32(body, offset: int) -> tuple[int, int]:
    """Return (the uint32 at `offset` aligned, the offset after it); struct.error if cut."""
    offset = align(offset, 4)
    return struct.unpack_from('<I', body, offset)[0], offset + 4


def read_string(body, offset: int) -> tuple[str, int]:
    """
    Return (a string field at `offset`, the offset after it); struct.error if it is cut.

    The text ends at its first NUL (the middleware writes one), and invalid UTF-8 is replaced,
    as rclpy reads a string.
    """
    length, start = read_uint32(body, offset)
    end = start + length
    if end > len(body):
        raise struct.error(f'a string of {length} bytes at {start} overruns {len(body)} bytes')
    text = bytes(body[start:end]).split(b'\0', 1)[0].decode('utf-8', errors='replace')
    return text, end


def read_header(body) -> tuple[Header, int]:
    """Return (the std_msgs/Header a message's body starts with, the offset after it)."""
    sec, nanosec = struct.unpack_from('<iI', body, 0)
    frame_id, end = read_string(body, 8)
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id), end
