"""posenet_bench_people --cost runs and prints each step's line (figures are not asserted)."""
from __future__ import annotations

from posenet_tools.bench_people import bench_cost


def test_cost_prints_every_step_and_the_message(capsys):
    bench_cost(frames=40)
    out = capsys.readouterr().out
    print(out)
    for name in ('depth', 'tracking', 'smoothing px', 'smoothing 3D', 'all', 'message'):
        assert f'  {name} ' in out
    assert 'the PoseArray, not in all' in out
