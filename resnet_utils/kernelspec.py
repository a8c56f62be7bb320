"""Install the course's Jupyter kernel ("python3" of this environment).

    python -m resnet_utils.kernelspec [--user]

Like ``python -m ipykernel install --sys-prefix --name python3``, plus environment
variables for the kernel process that must be set before it starts:

- ``MALLOC_ARENA_MAX=2``: glibc otherwise gives each of TensorFlow's many threads its own
  memory arena; two arenas cut the peak memory of the training notebook by about 10%
  (``bench/bench_notebook.py``).
- ``TF_CPP_MIN_LOG_LEVEL=2``: TensorFlow's C++ start-up notices go to stderr, which
  nbgrader scores as a failure in a test cell.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KERNEL_ENV = {"MALLOC_ARENA_MAX": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}


def install(user: bool = False, name: str = "python3",
            display_name: str = "Python 3 (ResNet Course)") -> Path:
    """Install the kernelspec and return its folder."""
    from ipykernel.kernelspec import install as ipykernel_install

    path = Path(ipykernel_install(user=user, prefix=None if user else sys.prefix,
                                  kernel_name=name, display_name=display_name))
    spec_file = path / "kernel.json"
    spec = json.loads(spec_file.read_text())
    spec["env"] = {**spec.get("env", {}), **KERNEL_ENV}
    spec_file.write_text(json.dumps(spec, indent=1) + "\n")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", action="store_true", help="install for this user instead of this environment")
    args = parser.parse_args(argv)
    print(f"installed kernel 'python3' in {install(user=args.user)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
