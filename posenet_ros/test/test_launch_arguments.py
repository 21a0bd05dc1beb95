"""
posenet.launch.py's boolean arguments: the parameters file's values hold unless one is given.

`use_compressed`, `autostart` and `use_depth` left out take the parameters file's values (a file
with `autostart: false` leaves the node unconfigured, for a lifecycle manager); one given on the
command line overrides the file; an unknown spelling (`yes`, `ture`) stops the launch with a
message naming the argument, before any node starts. camera.launch.py forwards all three.

The nodes here stay unconfigured: no weights are loaded, so each launch takes a few seconds.
Needs the ros2 CLI and launch: a ROS 2 install, or what scripts/setup.sh builds from
../shared/ros2_overlay.
"""
from __future__ import annotations

from pathlib import Path

from node_support import DomainClaim, Lifecycle, PoseNetClient
import pytest
from ros_tools_support import (assert_clean_output, GroupProcess, require_ros_tools,
                               stand_in_camera_prefix, tool_env)
import yaml

pytestmark = pytest.mark.dds

require_ros_tools()

PACKAGE = Path(__file__).resolve().parents[1]
# What the file sets, unlike the node's and launch's defaults.
FILE_VALUES = {'autostart': False, 'use_depth': True, 'use_compressed': True}


@pytest.fixture
def claim():
    claim = DomainClaim('launch_arguments')
    yield claim
    claim.release()


@pytest.fixture
def params_file(tmp_path) -> Path:
    """Return the package's parameters file with FILE_VALUES."""
    document = yaml.safe_load((PACKAGE / 'config' / 'posenet.yaml').read_text())
    document['/**']['ros__parameters'].update(FILE_VALUES)
    path = tmp_path / 'managed.yaml'
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def stand_in_camera(tmp_path) -> Path:
    """Return an ament prefix holding a `v4l2_camera` package whose node does nothing."""
    return stand_in_camera_prefix(
        tmp_path, '#!/bin/sh\ntrap "exit 0" INT TERM\nwhile :; do sleep 0.1; done\n')


def launch_env(claim, models_path, stand_in_camera) -> dict[str, str]:
    env = tool_env(claim.domain_id, models_path)
    env['AMENT_PREFIX_PATH'] = f"{stand_in_camera}:{env.get('AMENT_PREFIX_PATH', '')}"
    return env


def node_state(command: str, env: dict[str, str], log: Path, names) -> tuple[str, dict]:
    """Launch, and return posenet_node's lifecycle state and the parameters `names` once up."""
    launch = GroupProcess(command, env, log)
    client = None
    try:
        client = PoseNetClient(int(env['ROS_DOMAIN_ID']))
        lifecycle = Lifecycle(client)
        assert client.spin_until(lambda: lifecycle._get.service_is_ready() or not launch.running(),
                                 60.0), f'no /posenet_node/get_state:\n{launch.log()[-3000:]}'
        assert launch.running(), f'ros2 launch exited:\n{launch.log()[-3000:]}'
        # The node answers once its start-up (with autostart: configure, activate) is over.
        lifecycle.wait_ready(120.0)
        state = lifecycle.state()
        values = {name: client.get_parameter(name) for name in names}
    finally:
        if client is not None:
            client.close()
        code = launch.interrupt(group=False)  # launch passes one SIGINT on to each process
    assert code == 0, f'ros2 launch exited with {code}:\n{launch.log()[-3000:]}'
    assert_clean_output(launch.log())
    return state, values


def test_the_files_values_hold_unless_an_argument_overrides_them(
        claim, models_path, params_file, tmp_path):
    # use_compressed given (spelt as some launch files do), the other two left to the file.
    state, values = node_state(
        f'ros2 launch posenet_ros posenet.launch.py params_file:={params_file} '
        'use_compressed:=False', tool_env(claim.domain_id, models_path),
        tmp_path / 'posenet_launch.log', FILE_VALUES)
    assert values == {'autostart': False, 'use_depth': True, 'use_compressed': False}
    assert state == 'unconfigured'  # waits for a lifecycle manager, as the file says


def test_camera_launch_forwards_the_boolean_arguments(claim, models_path, stand_in_camera,
                                                      tmp_path):
    # The package's file (autostart: true, use_depth: false), overridden from the command line.
    state, values = node_state(
        'ros2 launch posenet_ros camera.launch.py autostart:=FALSE use_depth:=1',
        launch_env(claim, models_path, stand_in_camera), tmp_path / 'camera_launch.log',
        FILE_VALUES)
    assert values == {'autostart': False, 'use_depth': True, 'use_compressed': False}
    assert state == 'unconfigured'


@pytest.mark.parametrize('launch_file, argument, value', [
    ('posenet.launch.py', 'use_depth', 'yes'),
    ('camera.launch.py', 'autostart', 'ture'),
], ids=str)
def test_a_misspelt_boolean_stops_the_launch_naming_the_argument(
        launch_file, argument, value, claim, models_path, stand_in_camera, tmp_path):
    launch = GroupProcess(f'ros2 launch posenet_ros {launch_file} {argument}:={value}',
                          launch_env(claim, models_path, stand_in_camera),
                          tmp_path / 'launch.log')
    code = launch.wait(60.0)
    if code is None:  # it started the nodes
        launch.interrupt(group=False)
    else:
        launch.kill_group()
    output = launch.log()
    assert code not in (None, 0), f'ros2 launch exited with {code}:\n{output[-3000:]}'
    assert f"launch argument '{argument}' is '{value}'" in output, output[-3000:]
    assert 'true, false, 1 or 0' in output, output[-3000:]
    assert 'posenet_node' not in output, output[-3000:]  # never started
