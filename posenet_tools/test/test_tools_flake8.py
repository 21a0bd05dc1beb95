"""
ament_flake8 on the whole posenet_tools package, with ROS's settings (99 columns, google imports).

The package folder is checked wherever pytest was started; run the linters alone with
`scripts/test.sh -m linter`.
"""
from pathlib import Path

from ament_flake8.main import main_with_errors
import pytest

# Named apart from posenet_ros/test/test_flake8.py: pytest imports both test folders' modules
# by their file names.
PACKAGE_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.linter
def test_flake8(monkeypatch):
    # ament_flake8 leaves out the folders of the current directory that start with '.' or '_'.
    monkeypatch.chdir(PACKAGE_DIR)
    rc, errors = main_with_errors(argv=[str(PACKAGE_DIR)])
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
