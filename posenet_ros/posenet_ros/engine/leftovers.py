"""
Scratch folders and temporary files that name their process, and removing those of dead ones.

A process killed mid-build (SIGKILL, a robot losing power) cannot clean up: its scratch folder
of calibration frames (tens of MB) or a half-written cache entry stays. Each is named with the
process id, so the next process making one removes those whose process is gone and that are older
than any build takes (`ORPHAN_AGE_S`): a live writer, even on another machine sharing the folder,
is never touched.
"""
from __future__ import annotations

import os
from pathlib import Path
import re
import shutil
import tempfile
import time

ORPHAN_AGE_S = 3600.0  # older than any build (tflite_build.BUILD_TIMEOUT_S is 600 s)


def process_running(pid: int) -> bool:
    """Whether process `pid` exists on this machine (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_orphan(path: Path, pid: int) -> bool:
    """Whether `path`, made by process `pid`, was left behind: its process gone, and long ago."""
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return False
    return age > ORPHAN_AGE_S and not process_running(pid)


def scratch_folder(kind: str) -> tempfile.TemporaryDirectory:
    """
    Return a new temporary folder named posenet_<kind>_<pid>_..., removed with the object.

    The folders of this kind left by dead processes are removed first.
    """
    prefix = f'posenet_{kind}_'
    remove_orphaned_folders(Path(tempfile.gettempdir()), prefix)
    return tempfile.TemporaryDirectory(prefix=f'{prefix}{os.getpid()}_')


def remove_orphaned_folders(parent: Path, prefix: str) -> list[Path]:
    """Remove the `prefix`<pid>_... folders in `parent` that `is_orphan`; return them."""
    return remove_orphans(parent, re.compile(re.escape(prefix) + r'(?P<pid>\d+)_.+'))


def remove_orphans(folder: Path, pattern: re.Pattern) -> list[Path]:
    """Remove what in `folder` matches `pattern` (its process id: group pid) and is orphaned."""
    removed = []
    for path in _entries(folder):
        match = pattern.fullmatch(path.name)
        if not match or not is_orphan(path, int(match.group('pid'))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []
