"""resnet_utils.quiet: TensorFlow's oneDNN start-up notice stays off stderr, nothing else does.

The notice is logged through absl before TensorFlow applies TF_CPP_MIN_LOG_LEVEL, so the
variable alone does not hide it (the control below shows it); it is printed only where
oneDNN is on, which ``TF_ENABLE_ONEDNN_OPTS=1`` forces on any CPU.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from resnet_utils.quiet import ABSL_PREAMBLE, strip_startup_notices

ROOT = Path(__file__).resolve().parents[1]
NOTICE = ("I0000 00:00:1796158855.920659   30463 port.cc:153] oneDNN custom operations are on. You may see "
          "slightly different numerical results due to floating-point round-off errors from different "
          "computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.")


def test_strip_startup_notices_drops_the_onednn_notice_only():
    assert strip_startup_notices(f"{ABSL_PREAMBLE}\n{NOTICE}\n{ABSL_PREAMBLE}\n{NOTICE}\n") == ""
    error = "E0000 00:00:1796158855.920659   30463 cuda_dnn.cc:8310] Unable to register cuDNN factory\n"
    assert strip_startup_notices(f"{ABSL_PREAMBLE}\n{NOTICE}\n{error}") == f"{ABSL_PREAMBLE}\n{error}"
    other_info = "I0000 00:00:1796158855.920659   30463 cpu_feature_guard.cc:227] This TensorFlow binary ...\n"
    assert strip_startup_notices(other_info) == other_info
    assert strip_startup_notices("Traceback (most recent call last):\n  oneDNN custom operations are on.\n") \
        == "Traceback (most recent call last):\n  oneDNN custom operations are on.\n"
    assert strip_startup_notices("") == ""


def _run(code: str, tmp_path: Path, **env_extra) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_import_tensorflow_filters_file_descriptor_2_and_passes_the_rest(tmp_path):
    # a stand-in for TensorFlow that writes to descriptor 2 as its native library does
    (tmp_path / "tensorflow.py").write_text(textwrap.dedent(f"""
        import os, sys
        os.write(2, {(ABSL_PREAMBLE + chr(10) + NOTICE + chr(10)) * 2!r}.encode())
        os.write(2, b"W0000 a real warning\\n")
        print("python-level stderr", file=sys.stderr)
        LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    """))
    proc = _run("""
        from resnet_utils.quiet import import_tensorflow
        tf = import_tensorflow()
        print("level", tf.LEVEL)
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "level 2\n"
    assert "oneDNN" not in proc.stderr
    assert "W0000 a real warning\n" in proc.stderr and "python-level stderr\n" in proc.stderr
    # asked for every log (level 0): nothing is filtered
    proc = _run("from resnet_utils.quiet import import_tensorflow; import_tensorflow()", tmp_path,
                TF_CPP_MIN_LOG_LEVEL="0")
    assert proc.stderr.count("oneDNN custom operations are on") == 2


def test_import_tensorflow_propagates_import_errors_with_their_output(tmp_path):
    (tmp_path / "tensorflow.py").write_text("import os\nos.write(2, b'E0000 native failure\\n')\nraise ImportError('broken')\n")
    proc = _run("from resnet_utils.quiet import import_tensorflow; import_tensorflow()", tmp_path)
    assert proc.returncode != 0
    assert "E0000 native failure" in proc.stderr and "ImportError: broken" in proc.stderr


@pytest.mark.slow  # imports the real TensorFlow twice (about 20 s)
def test_the_real_tensorflow_notice_is_gone_and_shows_without(tmp_path):
    # the cause: with TF_CPP_MIN_LOG_LEVEL=2, a plain import still prints the notice
    control = _run("import tensorflow", tmp_path, TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="2")
    assert control.returncode == 0, control.stderr[-2000:]
    assert "oneDNN custom operations are on" in control.stderr
    # the fix: the notebook's import cell, as far as TensorFlow goes
    fixed = _run("""
        from resnet_utils.quiet import import_tensorflow
        import_tensorflow()
        import keras
        keras.ops.sum(keras.ops.ones(3))
        print("ok")
    """, tmp_path, TF_ENABLE_ONEDNN_OPTS="1")
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert fixed.stdout.strip() == "ok"
    assert fixed.stderr == ""
