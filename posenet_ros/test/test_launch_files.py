"""
What the launch files and configuration files refer to exists, is installed and agrees.

Here the launch files are read as Python source (no launch needed); they are run for real by
test_launch_posenet.py, test_launch_camera.py and test_launch_readme_commands.py.
"""
from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

from posenet_ros.ros.markers import JOINTS_NAMESPACE, SKELETON_NAMESPACE
from posenet_ros.ros.parameters import LIVE, live_settings, PARAMETERS
import pytest
import yaml

PACKAGE = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((PACKAGE / 'launch').glob('*.launch.py'))
INSTALLED_SHARE = PACKAGE.parent / 'install' / 'posenet_ros' / 'share' / 'posenet_ros'


def setup_py() -> ast.Module:
    return ast.parse((PACKAGE / 'setup.py').read_text())


def console_scripts() -> set[str]:
    scripts = set()
    for node in ast.walk(setup_py()):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    scripts |= {ast.literal_eval(item).split('=')[0].strip()
                                for item in value.elts}
    return scripts


def installed_globs() -> list[str]:
    """Return the glob patterns of setup.py's data_files."""
    return [ast.literal_eval(node.args[0]) for node in ast.walk(setup_py())
            if isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'glob']


def ros_nodes(launch_file: Path) -> list[dict[str, str]]:
    """package/executable/name keywords of every launch_ros Node(...) in the file."""
    nodes = []
    for node in ast.walk(ast.parse(launch_file.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'Node':
            nodes.append({kw.arg: kw.value.value for kw in node.keywords
                          if isinstance(kw.value, ast.Constant)})
    return nodes


def string_constants(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_there_are_the_two_launch_files():
    assert [path.name for path in LAUNCH_FILES] == ['camera.launch.py', 'posenet.launch.py']


@pytest.mark.parametrize('launch_file', LAUNCH_FILES, ids=lambda path: path.name)
def test_a_launch_file_starts_posenet_node_or_includes_the_one_that_does(launch_file):
    ours = [node for node in ros_nodes(launch_file) if node.get('package') == 'posenet_ros']
    constants = string_constants(launch_file)
    if ours:
        assert [node['executable'] for node in ours] == ['posenet_node']
        assert 'posenet_node' in console_scripts()
        # Its parameters come from the package's params file.
        assert {'config', 'posenet.yaml'} <= constants
        assert (PACKAGE / 'config' / 'posenet.yaml').is_file()
    else:
        assert 'posenet.launch.py' in constants
        assert (PACKAGE / 'launch' / 'posenet.launch.py').is_file()


def test_camera_launch_runs_the_v4l2_camera_driver_into_posenet():
    launch_file = PACKAGE / 'launch' / 'camera.launch.py'
    (camera,) = [node for node in ros_nodes(launch_file) if node.get('package') == 'v4l2_camera']
    assert camera['executable'] == 'v4l2_camera_node'
    assert 'image_raw' in string_constants(launch_file)  # what v4l2_camera publishes
    package_xml = (PACKAGE / 'package.xml').read_text()
    assert '<exec_depend>v4l2_camera</exec_depend>' in package_xml
    assert '<exec_depend>launch_ros</exec_depend>' in package_xml


@pytest.mark.parametrize('relative', [
    'launch/posenet.launch.py', 'launch/camera.launch.py', 'config/posenet.yaml',
    'config/posenet.rviz', 'config/fastdds_large_images.xml'])
def test_setup_py_installs_it(relative):
    assert (PACKAGE / relative).is_file()
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in installed_globs())
    if INSTALLED_SHARE.is_dir():  # built by scripts/setup.sh
        assert (INSTALLED_SHARE / relative).is_file()


def test_the_params_file_sets_every_parameter_with_its_declared_type_and_a_valid_value():
    document = yaml.safe_load((PACKAGE / 'config' / 'posenet.yaml').read_text())
    values = document['/**']['ros__parameters']
    assert set(values) == {spec.name for spec in PARAMETERS}
    for spec in PARAMETERS:
        value = values[spec.name]
        # rclpy refuses an int for a double parameter, so the YAML must spell 1.0, not 1.
        assert type(value) is type(spec.default), f'{spec.name}: {value!r}'
    # The node's own validation: raises with the reason if it would refuse a value.
    live_settings({name: values[name] for name in LIVE}, 0.75)


def test_the_rviz_config_shows_the_image_and_the_markers():
    config = yaml.safe_load((PACKAGE / 'config' / 'posenet.rviz').read_text())
    displays = {d['Class']: d for d in config['Visualization Manager']['Displays']}
    assert displays['rviz_default_plugins/Image']['Topic']['Value'] == '/poses/image'
    markers = displays['rviz_default_plugins/MarkerArray']
    assert markers['Topic']['Value'] == '/poses/markers'
    assert set(markers['Namespaces']) == {JOINTS_NAMESPACE, SKELETON_NAMESPACE}
    # The node publishes both reliable: a best-effort display would still match, reliable is exact.
    assert markers['Topic']['Reliability Policy'] == 'Reliable'


def test_the_interface_doc_lists_every_parameter_with_its_default():
    doc = (PACKAGE.parent / 'docs' / 'ros_interface.md').read_text()
    doc = doc.split('## Parameters')[1].split('\n## ')[0]  # that section's table
    rows = {line.split('|')[1].strip(' `'): line for line in doc.splitlines()
            if line.startswith('| `')}
    for spec in PARAMETERS:
        assert spec.name in rows, f'docs/ros_interface.md does not list {spec.name}'
        default = spec.default
        if isinstance(default, bool):
            shown = 'true' if default else 'false'
        else:
            shown = '""' if default == '' else str(default)
        assert f'`{shown}`' in rows[spec.name], (
            f'{spec.name}: default {shown} not in {rows[spec.name]}')
        assert ('read-only' in rows[spec.name]) == spec.read_only, spec.name
