"""The format of the codes at the end of the checks' messages: the one place that defines it.

A failed check's message ends with its mistake code on a line of its own, a penalty line that
a passing check prints ends with its penalty code::

    identity_block(f=2, ...): layer 9 is ReLU, expected Add.
    (mistake code: identity_block.relu_before_add)

    −1 point: ResNet50: layer 22 (AveragePooling2D) is named ... (penalty code: ResNet50.layer_name)

The checks (:mod:`resnet_utils.grading`) write them with :func:`with_code` and
:func:`with_penalty_code`; the instructor's grader (``autograder.mistakes``) reads them back
from the autograded notebook with :func:`split_code` and :func:`split_penalty_code` and counts
them in its class report.  This module imports nothing of the course: the student edition
ships it with ``resnet_utils``.
"""

from __future__ import annotations

import re

#: the end of a failed check's message: ``(mistake code: identity_block.relu_before_add)``
MISTAKE_MARKER = re.compile(r"\s*\(mistake code: ([A-Za-z0-9_.\-]+)\)\s*$")

#: the end of a penalty line that a passing check prints (stdout) in a graded test cell:
#: ``−1 point: layer 22 (AveragePooling2D) is named ... (penalty code: ResNet50.layer_name)``
PENALTY_MARKER = re.compile(r"\s*\(penalty code: ([A-Za-z0-9_.\-]+)\)\s*$")

#: a terminal colour or cursor escape (IPython colours tracebacks and some messages)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def with_code(message: str, code: str | None) -> str:
    """``message`` ending with the line ``(mistake code: CODE)`` (``message`` itself without a code)."""
    return f"{message}\n(mistake code: {code})" if code else message


def split_code(message: str) -> tuple[str | None, str]:
    """``(code, message without its marker)`` of a message that ends with a mistake code, else
    ``(None, message)`` (nothing else of the message is changed)."""
    m = MISTAKE_MARKER.search(message)
    if not m:
        return None, message
    return m.group(1), message[:m.start()]


def with_penalty_code(line: str, code: str) -> str:
    """A penalty line: ``line`` ending with ``(penalty code: CODE)``."""
    return f"{line} (penalty code: {code})"


def split_penalty_code(line: str) -> tuple[str | None, str]:
    """``(code, line without its marker)`` of a penalty line, else ``(None, line)``."""
    m = PENALTY_MARKER.search(line)
    if not m:
        return None, line
    return m.group(1), line[:m.start()]


def strip_ansi(text: str) -> str:
    """``text`` without its terminal escapes (:data:`ANSI`)."""
    return ANSI.sub("", text)
