"""
ament_pep257 on the whole posenet_ros package: docstrings in ROS's pep257 convention.

The summary on the line after the opening quotes, one summary line ending in a period, then
a blank line and the body. Run the linters alone with `scripts/test.sh -m linter`.
"""
from pathlib import Path

from ament_pep257.main import main
import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.linter
def test_pep257(monkeypatch):
    monkeypatch.chdir(PACKAGE_DIR)
    assert main(argv=[str(PACKAGE_DIR)]) == 0, 'Found code style errors / warnings (see stdout)'
