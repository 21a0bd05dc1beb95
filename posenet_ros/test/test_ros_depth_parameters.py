"""The depth parameters: every value their descriptors advertise is one the node can run with."""
from __future__ import annotations

import numpy as np
from posenet_ros.engine.depth import keypoint_depths
from posenet_ros.ros.parameters import LIVE, live_settings, SPECS
import pytest


@pytest.mark.parametrize('window', range(1, 32, 2))
def test_every_depth_window_the_parameter_allows_is_accepted_and_reads_depth(window):
    """depth_window's range is 1-31, odd: each is a window the depth stage can read with."""
    values = {name: SPECS[name].default for name in LIVE}
    values['depth_window'] = window
    config = live_settings(values, 0.75).depth
    assert config.window == window
    depth = np.full((64, 64), 2500, dtype=np.uint16)
    pixels = np.full((1, 17, 2), 31.0)
    depths = keypoint_depths(depth, '16UC1', pixels, np.ones((1, 17), dtype=bool), (64, 64),
                             config)
    np.testing.assert_allclose(depths, 2.5)
