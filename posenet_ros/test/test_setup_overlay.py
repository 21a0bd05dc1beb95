"""
scripts/setup.sh and the ROS 2 tools overlay: built when there, and a clear word when not.

Runs against this checkout's finished set-up, so each run takes the quick path (a second or so).
"""
from __future__ import annotations

import os
from pathlib import Path
import subprocess

import pytest

REPO = Path(__file__).resolve().parents[2]
SET_UP = (REPO / '.setup-stamp').is_file() and (REPO / 'install' / 'local_setup.bash').is_file()
WHEELS = not (REPO / '.venv' / 'pyvenv.cfg').is_file() or 'include-system-site-packages = true' \
    not in (REPO / '.venv' / 'pyvenv.cfg').read_text()
pytestmark = pytest.mark.skipif(not (SET_UP and WHEELS),
                                reason='needs a finished wheels-mode set-up of this checkout')


def clean_environment(**env) -> dict:
    """Return this process's environment without its venv or ROS variables, weights skipped."""
    clean = {key: value for key, value in os.environ.items()
             if key in ('HOME', 'USER', 'LANG', 'TMPDIR', 'POSENET_MODELS', 'POSENET_CACHE')}
    clean['PATH'] = ':'.join(part for part in os.environ.get('PATH', '').split(':')
                             if not part.startswith(str(REPO)) and '.venv' not in part
                             and 'ros2_overlay' not in part)
    clean.update(POSENET_SKIP_WEIGHTS='1', **env)
    return clean


def setup(tmp_path: Path, **env) -> subprocess.CompletedProcess:
    """scripts/setup.sh in an environment without this process's venv or ROS variables."""
    return subprocess.run(['bash', str(REPO / 'scripts' / 'setup.sh')], cwd=tmp_path,
                          env=clean_environment(**env), capture_output=True, text=True,
                          timeout=600)


def test_without_the_overlay_setup_warns_and_goes_on(tmp_path):
    result = setup(tmp_path, POSENET_ROS2_OVERLAY=str(tmp_path / 'nowhere'))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'WARNING: no ROS 2 tools overlay at {tmp_path / "nowhere"}' in result.stderr
    assert 'tests will skip' in result.stderr


def test_without_the_overlay_ci_stops_with_the_reason(tmp_path):
    result = setup(tmp_path, POSENET_ROS2_OVERLAY=str(tmp_path / 'nowhere'),
                   POSENET_REQUIRE_SHARED='1')
    assert result.returncode == 1
    assert f'ERROR: no ROS 2 tools overlay at {tmp_path / "nowhere"}' in result.stderr
    assert 'POSENET_REQUIRE_SHARED=1' in result.stderr


def test_with_the_overlay_built_setup_leaves_it_alone_and_env_sh_sources_it(tmp_path):
    stamp = REPO / '.ros2_overlay' / '.stamp'
    if not stamp.is_file():
        pytest.skip('the overlay is not built in this checkout')
    before = stamp.stat().st_mtime_ns
    result = setup(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'ros2_overlay' not in result.stdout and stamp.stat().st_mtime_ns == before
    check = subprocess.run(
        ['bash', '-c', f'source {REPO}/env.sh && command -v ros2 && python -c '
         '"import launch_testing, cv_bridge; print(cv_bridge.__file__)"'],
        cwd=tmp_path, env={'HOME': os.environ.get('HOME', '/root'), 'PATH': '/usr/bin:/bin'},
        capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    overlay = str(REPO / '.ros2_overlay' / 'install')
    assert all(line.startswith(overlay) for line in check.stdout.split()), check.stdout


def test_from_a_shell_that_sourced_env_sh_setup_finds_its_work_done(tmp_path):
    """
    The venv first on PATH does not change what setup was made with.

    scripts/test.sh and demo.sh run setup.sh; run from a sourced shell they must not redo the
    install and the build (the stamp named the venv's own python3.11 instead of the system's).
    """
    stamp = (REPO / '.setup-stamp').read_text()
    result = subprocess.run(
        ['bash', '-c', f'source {REPO}/env.sh && bash {REPO}/scripts/setup.sh'],
        cwd=tmp_path, env=clean_environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'installing' not in result.stdout and 'building' not in result.stdout, result.stdout
    assert (REPO / '.setup-stamp').read_text() == stamp
