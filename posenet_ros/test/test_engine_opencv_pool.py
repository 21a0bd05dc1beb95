"""
OpenCV's pool in the programs that run frames: workers that sleep when idle, set in time.

OpenCV reads its active-wait setting when it is loaded, so each check runs in a fresh Python
process. How much CPU this saves is a benchmark's figure (posenet_bench_cpu), not a test's.
"""
from __future__ import annotations

import os
import subprocess
import sys

SETTING = 'OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER'


def _fresh_python(code: str, **env) -> str:
    environment = {key: value for key, value in os.environ.items() if key != SETTING}
    environment.update(env)
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            env=environment, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_idle_workers_sleep_when_set_before_opencv_loads():
    code = ('import os, sys\n'
            'from posenet_ros.engine.opencv_pool import sleep_idle_workers\n'
            f'print(sleep_idle_workers(), os.environ.get("{SETTING}"))\n'
            'import cv2\n'
            'print(sleep_idle_workers())\n')
    assert _fresh_python(code) == ['True', '0', 'False']  # once cv2 is loaded, too late


def test_a_value_the_user_set_is_kept():
    code = ('import os\n'
            'from posenet_ros.engine.opencv_pool import sleep_idle_workers\n'
            f'sleep_idle_workers(); print(os.environ["{SETTING}"])\n')
    assert _fresh_python(code, **{SETTING: '500'}) == ['500']


def test_the_programs_that_run_frames_do_not_load_opencv_before_setting_it():
    """Importing the node's entry point and the CLIs leaves cv2 unloaded until main runs."""
    code = ('import sys\n'
            'import posenet_ros.ros.node_main, posenet_ros.tools.estimate\n'
            'import posenet_tools.bench.cli, posenet_tools.bench.cpu_budget\n'
            'import posenet_tools.frontier_study\n'
            'print("cv2" in sys.modules)\n')
    assert _fresh_python(code) == ['False']
