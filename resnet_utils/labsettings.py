"""Install the course's JupyterLab settings into this environment.

    python -m resnet_utils.labsettings [--app-dir DIR]

JupyterLab reads default overrides from ``<app dir>/settings/overrides.json``, where the
application directory is ``$JUPYTERLAB_DIR`` when set, else ``<sys.prefix>/share/jupyter/lab``
(``jupyter lab path`` prints it; jupyterlab_server's ``_get_overrides`` reads the file). The
course's overrides (``resnet_utils/assets/jupyterlab_overrides.json``, plugin id -> {setting:
value}) change only JupyterLab's defaults: a student's own settings still win.

- ``@jupyterlab/apputils-extension:notification``: ``fetchNews: "false"`` (no "Would you like to
  get notified about official Jupyter news?" prompt, no request to ``/lab/api/news``) and
  ``checkForUpdates: false`` (no request to ``/lab/api/update``, which asks PyPI for a newer
  JupyterLab): JupyterLab makes no network request of its own when it starts.
- ``@jupyterlab/notebook-extension:tracker``: ``autoStartDefaultKernel: true``: a notebook
  without a kernel in its metadata (File > New > Notebook) starts the server's default
  kernel, ``python3``, the course kernel of :mod:`resnet_utils.kernelspec`, instead of asking
  in the "Select Kernel" dialog. The course's notebooks name ``python3`` and start it anyway.

``make venv`` (so every make target, ``make lab`` included) and ``binder/postBuild`` run this.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

#: The course's overrides, the one place they are written.
COURSE_OVERRIDES = Path(__file__).resolve().parent / "assets" / "jupyterlab_overrides.json"


def default_app_dir() -> Path:
    """JupyterLab's application directory for this environment: ``$JUPYTERLAB_DIR`` when set,
    else ``<sys.prefix>/share/jupyter/lab`` (as ``jupyterlab.commands.get_app_dir``, which is
    slow to import, for a virtual or conda environment)."""
    env = os.environ.get("JUPYTERLAB_DIR")
    return Path(env).resolve() if env else Path(sys.prefix) / "share" / "jupyter" / "lab"


def overrides_path(app_dir: Path | str | None = None) -> Path:
    """The ``overrides.json`` that JupyterLab reads from ``app_dir`` (default: this environment's)."""
    return Path(app_dir or default_app_dir()) / "settings" / "overrides.json"


def course_overrides() -> dict[str, dict]:
    """The course's overrides: ``{plugin id: {setting: value}}``."""
    return json.loads(COURSE_OVERRIDES.read_text(encoding="utf-8"))


def merge(existing: dict, course: dict) -> dict:
    """``existing`` with the course's settings set: other plugins and other settings of the
    same plugins are kept; a setting the course also sets takes the course's value."""
    merged = {plugin: dict(values) if isinstance(values, dict) else values
              for plugin, values in existing.items()}
    for plugin, values in course.items():
        if not isinstance(merged.get(plugin), dict):
            merged[plugin] = {}
        merged[plugin].update(values)
    return merged


def _read(path: Path) -> dict:
    """The overrides already in ``path`` ({} when there is none); a clear error when it is not a
    JSON object, rather than overwriting someone's file."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}): fix or remove it, then run "
                         f"`python -m resnet_utils.labsettings` again") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a JSON {type(data).__name__}, not an object of plugin ids: "
                         f"fix or remove it, then run `python -m resnet_utils.labsettings` again")
    return data


def install(app_dir: Path | str | None = None) -> Path:
    """Merge the course's overrides into ``<app_dir>/settings/overrides.json`` and return its path.

    Merges rather than replaces (:func:`merge`): other plugins' and other settings' overrides in
    the file stay. Idempotent: the file is rewritten (atomically) only when it changes.
    """
    path = overrides_path(app_dir)
    existing = _read(path)
    merged = merge(existing, course_overrides())
    if merged != existing:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-dir", type=Path, default=None,
                        help="JupyterLab's application directory (default: $JUPYTERLAB_DIR, else "
                             "<sys.prefix>/share/jupyter/lab)")
    args = parser.parse_args(argv)
    print(f"JupyterLab settings of the course in {install(args.app_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
