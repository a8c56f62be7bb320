"""Import TensorFlow without its start-up notice on stderr (a red block in JupyterLab), tuned for the CPU.

    from resnet_utils.quiet import import_tensorflow
    import_tensorflow()   # before keras

First it applies :func:`resnet_utils.cpu.tune` (oneDNN's CPU kernels on, glibc malloc giving
large freed blocks back), which must happen before TensorFlow is loaded.

Why: on CPUs where TensorFlow turns its oneDNN optimisations on by default (most recent
Intel and AMD server CPUs, mybinder.org's among them; any CPU with
``TF_ENABLE_ONEDNN_OPTS=1``), loading TensorFlow 2.21's native library prints::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1700000000.000000   1234 port.cc:153] oneDNN custom operations are on. ...

(twice) to the process's stderr, file descriptor 2. TensorFlow logs this notice through
absl *before* it applies ``TF_CPP_MIN_LOG_LEVEL``, so setting that variable (in the
course's kernel, or with ``os.environ.setdefault`` before ``import keras``) does not
hide it; ipykernel forwards what is written to descriptor 2 to the notebook, which shows
it in red under the import cell (nbgrader scores stderr in a test cell as a failure).

:func:`import_tensorflow` sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless it is set, imports
TensorFlow with descriptor 2 sent to a temporary file, and writes back to stderr
everything TensorFlow printed except that INFO notice (and absl's preamble line when
nothing else follows it): warnings and errors still show. With ``TF_CPP_MIN_LOG_LEVEL=0``
(all logs wanted) nothing is filtered. oneDNN stays on (:func:`~resnet_utils.cpu.tune` turns it on
everywhere unless ``TF_ENABLE_ONEDNN_OPTS`` is set). This module imports nothing else from
the course.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

from .cpu import tune

__all__ = ["import_tensorflow", "strip_startup_notices"]

#: absl's line before the first message logged before ``absl::InitializeLog()``.
ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"

#: The INFO notice of ``tensorflow/core/util/port.cc`` (absl's format: I, date, time, thread, file:line]).
ONEDNN_NOTICE = re.compile(r"^I\d{4} [\d:.]+\s+\d+ port\.cc:\d+\] oneDNN custom operations are on\..*$")


def strip_startup_notices(text: str) -> str:
    """``text`` without TensorFlow's oneDNN INFO notice lines, and without absl's preamble
    line when nothing else is left; every other line (warnings, errors) is kept."""
    lines = [ln for ln in text.splitlines(keepends=True) if not ONEDNN_NOTICE.match(ln.rstrip("\r\n"))]
    if all(ln.strip() in ("", ABSL_PREAMBLE) for ln in lines):
        return ""
    return "".join(lines)


def _min_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip() or 0)
    except ValueError:
        return 0


def import_tensorflow():
    """Import and return ``tensorflow`` without its start-up INFO notice on stderr.

    Does nothing more than ``import tensorflow`` when TensorFlow is already imported, when
    ``TF_CPP_MIN_LOG_LEVEL`` asks for INFO logs (0), or when descriptor 2 cannot be
    redirected.
    """
    tune()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or _min_log_level() < 1:
        import tensorflow

        return tensorflow
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        import tensorflow

        return tensorflow
    captured = tempfile.TemporaryFile()
    try:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        finally:
            os.dup2(saved, 2)
    finally:
        os.close(saved)
        captured.seek(0)
        text = captured.read().decode("utf-8", errors="replace")
        captured.close()
        rest = strip_startup_notices(text)
        if rest:
            sys.stderr.write(rest)
            sys.stderr.flush()
    return tensorflow
