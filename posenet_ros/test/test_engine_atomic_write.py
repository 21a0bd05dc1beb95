"""Files written whole or not at all, with a normal file's permissions."""
from __future__ import annotations

import os
import stat

from posenet_ros.engine.atomic_write import write_file_atomic


def test_a_file_gets_the_umask_mode_and_the_umask_is_never_set(tmp_path, monkeypatch):
    """
    Mode 0o666 less the umask of the moment, read without os.umask.

    os.umask reads the mask only by setting it, for the whole process: meanwhile another
    thread's new files would get mode 0o666.
    """
    set_umask = os.umask
    calls = []
    monkeypatch.setattr(os, 'umask', lambda mask: calls.append(mask) or set_umask(mask))
    previous = set_umask(0o027)
    try:
        write_file_atomic(tmp_path / 'report.json', '{}')
        set_umask(0o002)
        write_file_atomic(tmp_path / 'figure.png', b'\x89PNG')
    finally:
        set_umask(previous)
    assert stat.S_IMODE((tmp_path / 'report.json').stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / 'figure.png').stat().st_mode) == 0o664
    assert (tmp_path / 'report.json').read_text() == '{}'
    assert sorted(path.name for path in tmp_path.iterdir()) == ['figure.png', 'report.json']
    assert calls == []
