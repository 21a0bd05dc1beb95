"""posenet_soak's verdict: a figure it could not read is a goal not shown met."""
from __future__ import annotations

from posenet_tools.soak import unmet_goals

MET = {'node_alive': True, 'rss_growth_mib': 12.0, 'p99_age_over_latency': 1.4,
       'worker_restarts': 0}


def test_unreadable_memory_and_missing_diagnostics_are_not_met():
    assert unmet_goals(MET) == []
    assert unmet_goals({**MET, 'rss_growth_mib': None}) == [
        'RSS growth not measured (RSS unreadable)']
    assert unmet_goals({**MET, 'worker_restarts': None}) == [
        'worker restarts not measured (no diagnostics from the node)']
    assert unmet_goals({**MET, 'p99_age_over_latency': float('nan')})  # no frame processed


def test_goals_missed():
    assert unmet_goals({**MET, 'node_alive': False, 'rss_growth_mib': 60.0,
                        'worker_restarts': 2}) == [
        'the node died', 'RSS grew 60 MiB (limit 50)', '2 worker restart(s)']
