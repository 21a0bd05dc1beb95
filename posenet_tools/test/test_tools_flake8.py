"""
ament_flake8 on the whole posenet_tools package, with ROS's settings (99 columns, google imports).

The package folder is checked wherever pytest was started; run the linters alone with
`scripts/test.sh -m linter`. flake8 forks worker processes: it runs in a fresh interpreter of
its own, since a fork of this test process (LiteRT interpreters and their threads from earlier
tests) can crash in the child.
"""
from pathlib import Path
import subprocess
import sys

import pytest

# Named apart from posenet_ros/test/test_flake8.py: pytest imports both test folders' modules
# by their file names.
PACKAGE_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.linter
def test_flake8():
    # ament_flake8 leaves out the folders of the current directory that start with '.' or '_'.
    result = subprocess.run([sys.executable, '-m', 'ament_flake8.main', str(PACKAGE_DIR)],
                            cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, \
        f'ament_flake8 found code style errors:\n{result.stdout[-8000:]}{result.stderr[-2000:]}'
