"""
Write a file so that a reader finds the old file or the complete new one, never half of one.

Every tool and the demo write their outputs (JSON, Markdown, JPEG, PNG, the original's runner
files) through `write_file_atomic`: the bytes go to a temporary file in the same folder, are
flushed to disk and renamed over the target; on any error the temporary file is removed.
"""
from __future__ import annotations

import os
from pathlib import Path
import tempfile


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_file_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Replace `path` with `data` (text is written as UTF-8) in one rename; folders are made."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode('utf-8')
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600; give it a normal file's
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
