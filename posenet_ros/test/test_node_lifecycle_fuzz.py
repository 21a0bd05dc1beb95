"""
posenet_node's lifecycle driven at random, as a careless lifecycle manager or operator would.

Random walks over change_state (the four public transitions, the shutdown ones from states that
do not offer them, and ids no state offers: 0 create, 8 destroy, the private result ids, unknown
ones), mixed with camera frames and live stride changes (a network built in the background).
After every request: an answer, success exactly when the lifecycle state machine (design.ros2.org
"Managed nodes") offers that transition from the state the node is in, then that machine's
state, the camera subscribed only while active, and an active node answering the next frame.
Then shutdown from each primary state: finalized, the camera unsubscribed, every transition
after it refused, and a clean exit on Ctrl-C.
"""
from __future__ import annotations

from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
from lifecycle_msgs.msg import Transition
from node_support import (DomainClaim, image_subscribers, Lifecycle, load_rgb, NodeProcess,
                          PoseNetClient)
from posenet_ros.ros.image_conversion import rgb_to_image_msg
import pytest

pytestmark = pytest.mark.dds

MODEL = 'mobilenet_quant2_075'
PHOTO = 'coco_kpts/images/000000005802.jpg'  # one person
EXAMPLES = 12

# The primary states' moves: (state, transition id) -> the state it leads to.
MOVES = {
    ('unconfigured', Transition.TRANSITION_CONFIGURE): 'inactive',
    ('inactive', Transition.TRANSITION_CLEANUP): 'unconfigured',
    ('inactive', Transition.TRANSITION_ACTIVATE): 'active',
    ('active', Transition.TRANSITION_DEACTIVATE): 'inactive',
    ('unconfigured', Transition.TRANSITION_UNCONFIGURED_SHUTDOWN): 'finalized',
    ('inactive', Transition.TRANSITION_INACTIVE_SHUTDOWN): 'finalized',
    ('active', Transition.TRANSITION_ACTIVE_SHUTDOWN): 'finalized',
}
SHUTDOWNS = {state: transition for (state, transition), after in MOVES.items()
             if after == 'finalized'}
PUBLIC = (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_CLEANUP,
          Transition.TRANSITION_ACTIVATE, Transition.TRANSITION_DEACTIVATE)
NEVER_OFFERED = (Transition.TRANSITION_CREATE, Transition.TRANSITION_DESTROY,
                 Transition.TRANSITION_ON_CONFIGURE_SUCCESS,
                 Transition.TRANSITION_ON_ACTIVATE_ERROR, Transition.TRANSITION_ON_ERROR_FAILURE,
                 Transition.TRANSITION_CALLBACK_SUCCESS, 9, 255)
# The path from unconfigured to each primary state.
PATHS = {'unconfigured': (), 'inactive': (Transition.TRANSITION_CONFIGURE,),
         'active': (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE)}

# A walk's steps: a move the current state offers (so that walks reach every state), any
# transition id (mostly ones not offered), frames from the camera, a live stride change.
steps = st.one_of(
    st.tuples(st.just('move'), st.integers(0, 1)),
    st.tuples(st.just('move'), st.integers(0, 1)),
    st.tuples(st.just('transition'), st.sampled_from(PUBLIC + NEVER_OFFERED
                                                     + tuple(SHUTDOWNS.values()))),
    st.tuples(st.just('frames'), st.integers(1, 5)),
    st.tuples(st.just('output_stride'), st.sampled_from([8, 16])))


def offered(state: str) -> list[int]:
    """Return the transitions `state` offers, shutdown aside."""
    return [transition for (start, transition), after in sorted(MOVES.items())
            if start == state and after != 'finalized']


@pytest.fixture(scope='module')
def good(data_path):
    return rgb_to_image_msg(load_rgb(data_path / PHOTO))


def start_managed(models_path, log_path, salt: str):
    claim = DomainClaim(salt)
    node = NodeProcess(claim.domain_id, {'model': str(models_path / MODEL), 'autostart': False},
                       log_path)
    client = PoseNetClient(claim.domain_id)
    lifecycle = Lifecycle(client)
    lifecycle.wait_ready()
    return claim, node, client, lifecycle


def stop_managed(claim, node, client) -> int:
    client.close()
    code = node.interrupt()
    claim.release()
    return code


@pytest.fixture(scope='module')
def managed(models_path, tmp_path_factory):
    started = start_managed(models_path, tmp_path_factory.mktemp('node') / 'node.log',
                            'lifecycle_fuzz')
    yield started
    claim, node, client, _ = started
    assert stop_managed(claim, node, client) == 0
    assert 'Traceback' not in node.log(), node.log()[-3000:]


def check_serving(client, node, lifecycle, state: str, good) -> None:
    """Check the node is in `state`: alive, the camera subscribed only if active, answering."""
    assert node.running(), node.log()[-3000:]
    assert lifecycle.state() == state
    active = state == 'active'
    assert client.spin_until(lambda: bool(image_subscribers(client)) == active, 10.0), (
        f'{state}: camera subscription {"missing" if active else "still there"}')
    if active:
        assert client.exchange(good).poses, 'active, and the frame has a person'


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(walk=st.lists(steps, min_size=3, max_size=10))
def test_every_request_gets_the_state_machines_answer_and_frames_go_on(managed, good, walk):
    _, node, client, lifecycle = managed
    state = lifecycle.state()  # where the previous walk left the node
    for kind, value in walk:
        if kind == 'frames':
            for _ in range(value):
                client.send(good)
        elif kind == 'output_stride':
            (result,) = client.set_parameters(output_stride=value)
            assert result.successful, result.reason  # live in every state
        else:
            if kind == 'move':
                moves = offered(state)
                value = moves[value % len(moves)]
            after = MOVES.get((state, value))
            if after == 'finalized':
                continue  # shutting down ends the walks: the next test does it
            assert lifecycle.change(value) == (after is not None), (state, value)
            state = after or state
            check_serving(client, node, lifecycle, state, good)


@pytest.mark.parametrize('state', sorted(PATHS))
def test_shutdown_from_each_state_finalizes_and_refuses_everything_after(
        models_path, good, tmp_path, state):
    claim, node, client, lifecycle = start_managed(models_path, tmp_path / 'node.log',
                                                   f'lifecycle_shutdown_{state}')
    try:
        for transition in PATHS[state]:
            assert lifecycle.change(transition)
        check_serving(client, node, lifecycle, state, good)
        assert lifecycle.change(SHUTDOWNS[state])
        check_serving(client, node, lifecycle, 'finalized', good)
        for transition in PUBLIC + tuple(SHUTDOWNS.values()):
            assert not lifecycle.change(transition), f'finalized accepted transition {transition}'
        sent = client.send(good)
        client.spin_for(1.0)
        assert client.answer_to(sent) is None, 'finalized, yet a frame was answered'
    finally:
        code = stop_managed(claim, node, client)
    assert code == 0
    assert 'Traceback' not in node.log(), node.log()[-3000:]
