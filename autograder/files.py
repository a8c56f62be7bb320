"""Writing the grader's files so that a reader (or a crash) never sees half of one."""

from __future__ import annotations

import contextlib
import json
import os
import shutil


@contextlib.contextmanager
def replaced_atomically(path: str):
    """Yield a temporary path next to ``path`` (a file or a folder to create there); when the
    block ends without an error, move it onto ``path`` with ``os.replace``, so that readers see
    the old file or the new one, never a part. On an error the temporary is removed and
    ``path`` is left as it was. ``path`` must not be an existing folder."""
    tmp = path + ".tmp"
    _remove(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def write_json(path: str, data) -> None:
    """Write ``data`` as indented JSON (values JSON does not know as their ``str``), atomically."""
    with replaced_atomically(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1, default=str)
