"""
Running ROS 2's own tools (`ros2 run`, `ros2 launch`, `ros2 param`, `ros2 topic`) in tests.

The PyPI ROS 2 wheels lack launch, launch_testing and the ros2 CLI; `scripts/setup.sh` builds them
from ../shared/ros2_overlay (a system ROS 2 has them). Tests that need them skip with the reason
where they are missing, and fail under POSENET_REQUIRE_SHARED=1 (CI), so CI never passes by
skipping. Each command runs in a process group of its own and is stopped as Ctrl-C in a terminal
stops it: SIGINT to the whole group (`ros2 run` does not forward signals to the node).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import shlex
import shutil
import signal
import subprocess
import time

import pytest

REPO = Path(__file__).resolve().parents[2]
MISSING_HINT = ('run scripts/setup.sh with ../shared/ros2_overlay beside the checkout (it builds '
                'launch, launch_testing, the ros2 CLI and cv_bridge into .ros2_overlay), then '
                'source env.sh; or source a ROS 2 install')


def missing_ros_tools(modules=('launch', 'launch_ros', 'launch_testing'),
                      executables=('ros2',)) -> list[str]:
    """Return the Python modules and executables of the list that are not available here."""
    missing = []
    for module in modules:
        spec = importlib.util.find_spec(module)
        # A folder named like the module (e.g. posenet_ros's own launch/) is a namespace package.
        if spec is None or spec.origin in (None, 'namespace'):
            missing.append(module)
    missing += [tool for tool in executables if shutil.which(tool) is None]
    return missing


def require_ros_tools(modules=('launch', 'launch_ros', 'launch_testing'),
                      executables=('ros2',)) -> None:
    """Skip the calling test module without the ROS 2 tools (fail under POSENET_REQUIRE_SHARED)."""
    missing = missing_ros_tools(modules, executables)
    if not missing:
        return
    message = f'needs {", ".join(missing)} (ROS 2 tools): {MISSING_HINT}'
    if os.environ.get('POSENET_REQUIRE_SHARED') == '1':
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def stand_in_camera_prefix(folder: Path, script: str) -> Path:
    """
    Return an ament prefix in `folder` holding a stand-in `v4l2_camera` package.

    Its v4l2_camera_node is the shell `script`: camera.launch.py runs without the real driver.
    """
    prefix = folder / 'stand_in'
    index = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / 'v4l2_camera').touch()
    executable = prefix / 'lib' / 'v4l2_camera' / 'v4l2_camera_node'
    executable.parent.mkdir(parents=True)
    executable.write_text(script)
    executable.chmod(0o755)
    return prefix


def tool_env(domain_id: int, models_path: Path | None = None) -> dict[str, str]:
    """
    Return this process's environment on the test's own ROS domain.

    Logs unbuffered and plain; Python's faulthandler on, so a command that hangs can be made to
    print where each of its threads is (`GroupProcess.interrupt`).
    """
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               PYTHONUNBUFFERED='1', RCUTILS_LOGGING_BUFFERED_STREAM='0',
               RCUTILS_COLORIZED_OUTPUT='0', PYTHONFAULTHANDLER='1')
    if models_path is not None:
        env['POSENET_MODELS'] = str(models_path)
    return env


class GroupProcess:
    """
    A command in a process group of its own, stdout and stderr going to a log file.

    Has what node_support.PoseNetClient.wait_until_serving expects of a node process.
    """

    def __init__(self, command: str, env: dict[str, str], log_path: Path, cwd: Path = REPO):
        # Split as a shell would (the commands have nothing to expand), but no shell in between:
        # a shell waiting for its child would die of the SIGINT itself, unlike a terminal's.
        self.command = command
        self.log_path = log_path
        self._log = open(log_path, 'wb')
        self.process = subprocess.Popen(
            shlex.split(command), cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors='replace')

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_for_log(self, text: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while text not in self.log():
            if time.monotonic() > deadline or not self.running():
                return text in self.log()
            time.sleep(0.1)
        return True

    def interrupt(self, timeout_s: float = 30.0, group: bool = True) -> int | None:
        """
        Press Ctrl-C as in a terminal; return the exit code, None if it hung.

        SIGINT goes to the group (`group=False`: to the command alone, as `kill -INT <pid>`).
        A command that hangs is made to print its threads' Python stacks into the log (SIGABRT,
        with `tool_env`'s faulthandler), for the failure message. The group is killed afterwards.
        """
        code = None
        if self.process.poll() is None:
            if group:
                self._signal_group(signal.SIGINT)
            else:
                self.process.send_signal(signal.SIGINT)
            code = self.wait(timeout_s)
            if code is None:
                self.process.send_signal(signal.SIGABRT)
                self.wait(5.0)
        else:
            code = self.process.returncode
        self.kill_group()
        return code

    def wait(self, timeout_s: float = 30.0) -> int | None:
        """Return the exit code once the command ends by itself, None if it is still running."""
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def kill_group(self) -> None:
        """Whatever of the group is still alive is killed; the log is closed."""
        self._signal_group(signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait()
        self._log.close()

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


def run_tool(command: str, env: dict[str, str], timeout_s: float = 60.0,
             cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run a short ros2 command (param set, daemon stop, ...) to its end."""
    return subprocess.run(shlex.split(command), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout_s, start_new_session=True)


def stop_ros2_daemon(env: dict[str, str]) -> None:
    """Stop the ros2 daemon that `ros2 param` / `ros2 topic` started on this test's domain."""
    try:
        run_tool('ros2 daemon stop', env, timeout_s=30.0)
    except subprocess.TimeoutExpired:
        pass


def assert_clean_output(output: str) -> None:
    """No Python traceback and no C++ `terminate called` in a process's output."""
    for sign in ('Traceback (most recent call last)', 'terminate called'):
        assert sign not in output, f'{sign!r} in the output:\n{output[-4000:]}'
