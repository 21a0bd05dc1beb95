"""
Fuzzing posenet_node's set_parameters while a camera streams at 30 Hz.

Random requests (known and unknown names, every parameter type and invalid type numbers, values
in and far out of range, one to three parameters at once, through set_parameters and
set_parameters_atomically): each gets an answer; an accepted value is then the parameter's
value and a refused one leaves the old value; and the node answers the next good frame after
every request. Bounded for CI by the number of examples.
"""
from __future__ import annotations

import threading
import time

from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
from node_support import load_rgb, NODE_NAME, running_node
from posenet_ros.ros.image_conversion import rgb_to_image_msg
from posenet_ros.ros.parameters import LIVE, SPECS
import pytest
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters, SetParametersAtomically
from rclpy.parameter import parameter_value_to_python

pytestmark = pytest.mark.dds

MODEL = 'mobilenet_quant2_075'
PHOTO = 'coco_kpts/images/000000005802.jpg'  # one person
EXAMPLES = 40
CAMERA_HZ = 30.0
NAMES = sorted(SPECS) + ['no_such_parameter', 'qos_overrides./image.subscription.depth', '']

VALUE_FIELDS = {
    ParameterType.PARAMETER_BOOL: ('bool_value', st.booleans()),
    ParameterType.PARAMETER_INTEGER: ('integer_value', st.one_of(
        st.integers(-3, 40), st.sampled_from([57, 129, 257, 353, 481, 641, 1025]),
        st.integers(-2**63, 2**63 - 1))),
    ParameterType.PARAMETER_DOUBLE: ('double_value', st.one_of(
        st.floats(-1.0, 2.0), st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0.0, 0.1, 0.5, 20.0, 30.0, 1e9]))),
    ParameterType.PARAMETER_STRING: ('string_value', st.one_of(
        st.sampled_from(['single', 'multi', 'cpu', 'gpu', 'tflite', MODEL, '']),
        st.text(max_size=20))),
    ParameterType.PARAMETER_BYTE_ARRAY: ('byte_array_value',
                                         st.lists(st.binary(min_size=1, max_size=1), max_size=3)),
    ParameterType.PARAMETER_BOOL_ARRAY: ('bool_array_value', st.lists(st.booleans(), max_size=3)),
    ParameterType.PARAMETER_INTEGER_ARRAY: ('integer_array_value',
                                            st.lists(st.integers(-10, 10), max_size=3)),
    ParameterType.PARAMETER_DOUBLE_ARRAY: ('double_array_value',
                                           st.lists(st.floats(-1, 1), max_size=3)),
    ParameterType.PARAMETER_STRING_ARRAY: ('string_array_value',
                                           st.lists(st.text(max_size=5), max_size=3)),
}


@st.composite
def parameter_entries(draw) -> ParameterMsg:
    name = draw(st.sampled_from(NAMES))
    kind = draw(st.one_of(st.sampled_from(sorted(VALUE_FIELDS)),
                          st.sampled_from([ParameterType.PARAMETER_NOT_SET, 10, 99, 255])))
    value = ParameterValue(type=kind)
    if kind in VALUE_FIELDS:
        field, values = VALUE_FIELDS[kind]
        setattr(value, field, draw(values))
    return ParameterMsg(name=name, value=value)


requests = st.tuples(st.booleans(), st.lists(parameter_entries(), min_size=1, max_size=3))


class Camera:
    """Publishes the photo at CAMERA_HZ from a thread of its own while the test runs."""

    def __init__(self, client, message):
        self._client, self._message = client, message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(1.0 / CAMERA_HZ):
            self._message.header.stamp = self._client.node.get_clock().now().to_msg()
            self._message.header.frame_id = 'camera'
            self._client.image_pub.publish(self._message)

    def stop(self):
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope='module')
def rgb(data_path):
    return load_rgb(data_path / PHOTO)


@pytest.fixture(scope='module')
def good(rgb):
    return rgb_to_image_msg(rgb)


@pytest.fixture(scope='module')
def ros(models_path, rgb, good, tmp_path_factory):
    parameters = {'model': str(models_path / MODEL)}
    with running_node('parameter_fuzz', parameters, tmp_path_factory.mktemp('node'),
                      good) as (node, client):
        set_each = client.node.create_client(SetParameters, f'/{NODE_NAME}/set_parameters')
        atomically = client.node.create_client(SetParametersAtomically,
                                               f'/{NODE_NAME}/set_parameters_atomically')
        camera = Camera(client, rgb_to_image_msg(rgb))  # a message of its own
        yield node, client, set_each, atomically
        camera.stop()


def current(client, name: str):
    if name not in SPECS:
        return None
    return client.get_parameter(name)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests)
def test_every_request_is_answered_and_the_next_frame_too(ros, good, request):
    node, client, set_each, atomically = ros
    atomic, entries = request
    before = {entry.name: current(client, entry.name) for entry in entries}
    if atomic:
        results = [client._call(atomically, SetParametersAtomically.Request(
            parameters=entries)).result] * len(entries)
    else:
        results = client._call(set_each, SetParameters.Request(parameters=entries)).results
    assert len(results) == len(entries)
    for entry, result in zip(entries, results):
        if entry.name not in SPECS:
            continue
        now = current(client, entry.name)
        if result.successful and entry.name in LIVE and not atomic_duplicate(entries, entry):
            assert now == parameter_value_to_python(entry.value), (entry, result.reason)
        elif not result.successful:
            assert result.reason, 'a refusal says why'
            if not atomic_duplicate(entries, entry):
                assert now == before[entry.name] or (now != now and before[entry.name]
                                                     != before[entry.name])
    assert node.running(), node.log()[-3000:]
    deadline = time.monotonic() + 60.0
    start = len(client.poses)
    assert client.spin_until(lambda: len(client.poses) > start, deadline - time.monotonic()), (
        f'no frame answered after {entries}:\n{node.log()[-2000:]}')
    assert 'Traceback' not in node.log()


def atomic_duplicate(entries, entry) -> bool:
    """Tell whether the name comes more than once in the request (only the last value counts)."""
    return sum(other.name == entry.name for other in entries) > 1
