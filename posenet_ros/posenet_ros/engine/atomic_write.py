"""
Write a file so that a reader finds the old file or the complete new one, never half of one.

Every tool and the demo write their outputs (JSON, Markdown, JPEG, PNG, the original's runner
files) through `write_file_atomic`: the bytes go to a temporary file in the same folder, are
flushed to disk and renamed over the target; on any error the temporary file is removed. A
process killed meanwhile leaves its temporary file behind: its name holds the target's name and
the writer's process id, so whoever killed it can remove it (`remove_temporary_files`).
"""
from __future__ import annotations

import os
from pathlib import Path
import re
import tempfile

_TEMPORARY_SUFFIX = '.tmp'


def _temporary_prefix(path: Path, pid: int) -> str:
    return f'.{path.name}.{pid}.'


def _umask_from_proc() -> int | None:
    """Return the umask Linux reports for this process, None where it does not."""
    try:
        with open('/proc/self/status', encoding='ascii') as status:
            for line in status:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _swap_umask() -> int:
    """Read the umask by setting it: for an instant every thread's new files get mode 0o666."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Where Linux does not report it, the umask is read once, at import, before a thread of ours
# makes files.
_UMASK_AT_IMPORT = _umask_from_proc()
if _UMASK_AT_IMPORT is None:
    _UMASK_AT_IMPORT = _swap_umask()


def current_umask() -> int:
    """Return the umask without changing it (os.umask would, for the whole process)."""
    mask = _umask_from_proc()
    return mask if mask is not None else _UMASK_AT_IMPORT


def write_file_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Replace `path` with `data` (text is written as UTF-8) in one rename; folders are made."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode('utf-8')
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=_temporary_prefix(path, os.getpid()),
                                         suffix=_TEMPORARY_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes it 0600; give it a normal file's mode
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# Any writer's temporary file: .<target name>.<pid>.<mkstemp's random part>.tmp
TEMPORARY_FILE = re.compile(r'\..+\.(?P<pid>\d+)\.[a-z0-9_]+' + re.escape(_TEMPORARY_SUFFIX))


def remove_temporary_files(path: str | os.PathLike, pid: int) -> list[Path]:
    """
    Remove the temporary files process `pid` left writing `path`; return them.

    Only that process's (it must have ended): another process writing the same file at the same
    time keeps its own.
    """
    path = Path(path)
    # mkstemp's random part: letters, digits and '_'.
    pattern = re.compile(re.escape(_temporary_prefix(path, pid)) + r'[a-z0-9_]+'
                         + re.escape(_TEMPORARY_SUFFIX))
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    removed = []
    for name in names:
        if pattern.fullmatch(name):
            (path.parent / name).unlink(missing_ok=True)
            removed.append(path.parent / name)
    return removed
