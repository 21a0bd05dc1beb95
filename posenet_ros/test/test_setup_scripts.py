"""
The set-up, environment and test scripts behave as the README says.

They run against this checkout's existing set-up (a full install from scratch takes minutes:
that is what `.ci/run` on a fresh clone does).
"""
from __future__ import annotations

from importlib import metadata
import os
from pathlib import Path
import re
import subprocess

import pytest

REPO = Path(__file__).resolve().parents[2]
SET_UP = (REPO / '.setup-stamp').is_file() and (REPO / 'install' / 'local_setup.bash').is_file()
needs_setup = pytest.mark.skipif(not SET_UP,
                                 reason='scripts/setup.sh has not run in this checkout')


def bash(script: str, cwd: Path, env: dict | None = None, timeout: float = 300):
    """Run a bash script in a clean-ish environment (no venv or ROS variables of this process)."""
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(('AMENT_', 'COLCON_', 'ROS_', 'RMW_', 'FASTDDS_', 'FASTRTPS_',
                                    '_ROS_WHEELS', 'VIRTUAL_ENV', 'PYTHON', 'CMAKE_PREFIX',
                                    'LD_LIBRARY_PATH'))}
    clean['PATH'] = ':'.join(part for part in clean.get('PATH', '').split(':')
                             if not part.startswith(str(REPO)))
    clean.update(env or {})
    return subprocess.run(['bash', '-c', script], cwd=cwd, env=clean, capture_output=True,
                          text=True, timeout=timeout)


@needs_setup
def test_setup_again_is_quick_and_changes_nothing(tmp_path):
    env = {'POSENET_SKIP_WEIGHTS': '1'}
    first = bash(f'bash {REPO}/scripts/setup.sh', cwd=tmp_path, env=env)  # brings it up to date
    assert first.returncode == 0, first.stdout + first.stderr
    stamp = (REPO / '.setup-stamp').read_text()
    result = bash(f'bash {REPO}/scripts/setup.sh', cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'colcon' not in result.stdout and 'installing' not in result.stdout, result.stdout
    assert (REPO / '.setup-stamp').read_text() == stamp


@needs_setup
def test_env_sh_from_any_folder_gives_the_executables_and_the_packages(tmp_path):
    robot_tools = ('posenet_node', 'posenet_demo', 'posenet_image_publisher', 'posenet_estimate',
                   'posenet-estimate')
    developer_tools = ('posenet_bench', 'posenet-bench', 'posenet_eval', 'posenet-eval',
                       'posenet_parity', 'posenet_bench_decode', 'posenet_accuracy_study',
                       'posenet_bench_startup', 'posenet_bench_cpu')
    result = bash(f'source {REPO}/env.sh && source {REPO}/env.sh && '
                  f'for tool in {" ".join(robot_tools + developer_tools)}; '
                  'do command -v $tool; done && echo "PATH=$PATH" && '
                  'python -c "import rclpy, posenet_ros.ros.node, posenet_tools.bench.cli; '
                  'from posenet_msgs.msg import PoseArray; print(\'imports ok\')"',
                  cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    bin_dir = REPO / 'install' / 'posenet_ros' / 'lib' / 'posenet_ros'
    tools_bin_dir = REPO / 'install' / 'posenet_tools' / 'lib' / 'posenet_tools'
    assert lines[:len(robot_tools) + len(developer_tools)] == (
        [str(bin_dir / tool) for tool in robot_tools]
        + [str(tools_bin_dir / tool) for tool in developer_tools])
    path = next(line for line in lines if line.startswith('PATH='))[5:].split(':')
    assert path.count(str(bin_dir)) == 1, 'sourcing twice must not grow PATH'
    assert 'imports ok' in lines


def test_env_sh_says_what_to_do_when_not_set_up(tmp_path):
    (tmp_path / 'env.sh').write_text((REPO / 'env.sh').read_text())
    result = bash(f'source {tmp_path}/env.sh; echo "status $?"', cwd=tmp_path)
    assert 'status 1' in result.stdout
    assert 'scripts/setup.sh' in result.stderr


@pytest.mark.parametrize('fake_python, message', [
    ('#!/bin/sh\necho 3.10\n', 'is Python 3.10; the ROS 2 wheels need 3.11'),
    ('#!/bin/sh\nexit 1\n', 'cannot run'),
])
def test_setup_refuses_a_wrong_python_with_a_clear_message(tmp_path, fake_python, message):
    python = tmp_path / 'python3.11'
    python.write_text(fake_python)
    python.chmod(0o755)
    result = bash(f'bash {REPO}/scripts/setup.sh', cwd=tmp_path,
                  env={'POSENET_PYTHON': str(python)})
    assert result.returncode == 1
    assert message in result.stderr, result.stderr
    assert result.stderr.startswith('[setup] ERROR:')


def test_ci_runs_the_test_script_against_the_shared_data():
    ci = (REPO / '.ci' / 'run').read_text()
    assert 'export POSENET_MODELS="$REPO/../shared/models/posenet"' in ci
    assert 'export POSENET_REQUIRE_SHARED=1' in ci
    assert 'scripts/test.sh' in ci
    assert os.access(REPO / '.ci' / 'run', os.X_OK)


@needs_setup
def test_test_sh_fails_when_no_test_runs(tmp_path):
    result = bash(f'bash {REPO}/scripts/test.sh -k no_test_has_this_name '
                  f'{REPO}/posenet_ros/test/test_setup_scripts.py', cwd=tmp_path,
                  env={'POSENET_SKIP_WEIGHTS': '1'})
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'pytest collected no tests' in result.stderr


def test_requirements_are_pinned_to_what_is_installed():
    pyvenv_cfg = REPO / '.venv' / 'pyvenv.cfg'
    installed_by_wheels = not pyvenv_cfg.is_file() or 'true' not in re.findall(
        r'include-system-site-packages *= *(\w+)', pyvenv_cfg.read_text())
    for path in sorted((REPO / 'requirements').glob('*.txt')):
        for line in path.read_text().splitlines():
            if not line.strip() or line.startswith('#'):
                continue
            name, _, version = line.partition('==')
            assert version and re.fullmatch(r'[\w.+-]+', version), (
                f'{path.name}: {line} is not pinned')
            # ros.txt is what the wheels install; system_numpy1.txt replaces pins only over a
            # system NumPy 1.x (system mode on Ubuntu 24.04).
            numpy_major = int(metadata.version('numpy').split('.')[0])
            if (installed_by_wheels or path.name != 'ros.txt') and (
                    path.name != 'system_numpy1.txt' or numpy_major < 2):
                try:
                    assert metadata.version(name) == version, f'{path.name}: {line}'
                except metadata.PackageNotFoundError:
                    pytest.fail(f'{path.name}: {name} is not installed')


def test_demo_help_answers_before_any_set_up(tmp_path):
    """`scripts/demo.sh --help` on a fresh clone lists the options without minutes of set-up."""
    checkout = tmp_path / 'checkout'
    (checkout / 'scripts').mkdir(parents=True)
    for script in ('demo.sh', 'setup.sh'):
        (checkout / 'scripts' / script).write_text((REPO / 'scripts' / script).read_text())
    (checkout / 'posenet_ros').symlink_to(REPO / 'posenet_ros')  # the sources, not the set-up
    result = bash(f'bash {checkout}/scripts/demo.sh --frames 5 --help', cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('usage: posenet_demo'), result.stdout
    assert '--params-file' in result.stdout and '[setup]' not in result.stdout + result.stderr
    assert not (checkout / '.venv').exists()
