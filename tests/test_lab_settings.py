"""The course's JupyterLab settings (resnet_utils/labsettings.py): real setting keys of the
installed JupyterLab, installed where and as JupyterLab reads them, merged with an existing
overrides.json, idempotent, and installed by ``make venv`` and ``binder/postBuild``.

Fast (no server, no browser): tests/test_browser_jupyterlab.py checks what a student sees.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jsonschema
import pytest

from resnet_utils import labsettings

ROOT = Path(__file__).resolve().parents[1]
#: The installed JupyterLab's setting schemas: <package>/<plugin>.json for plugin id <package>:<plugin>.
SCHEMAS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"


def _schema(plugin_id: str) -> dict:
    package, _, plugin = plugin_id.partition(":")
    path = SCHEMAS / package / f"{plugin}.json"
    assert plugin and path.is_file(), f"{plugin_id!r} is no plugin of the installed JupyterLab (no {path})"
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_override_is_a_real_setting_of_the_installed_jupyterlab_with_a_valid_value():
    overrides = labsettings.course_overrides()
    assert SCHEMAS.is_dir(), f"no JupyterLab schemas in {SCHEMAS}: is jupyterlab installed in this environment?"
    for plugin_id, values in overrides.items():
        schema = _schema(plugin_id)
        unknown = set(values) - set(schema["properties"])
        assert not unknown, f"{plugin_id}: no setting {sorted(unknown)} (it has {sorted(schema['properties'])})"
        # the values as JupyterLab validates settings (fetchNews is "true"/"false"/"none", a string)
        jsonschema.Draft7Validator({**schema, "required": []}).validate(values)
        for key, value in values.items():
            assert value != schema["properties"][key]["default"], f"{plugin_id}.{key} overrides nothing"
    assert overrides == {
        "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
    }


def test_install_writes_what_jupyterlab_server_reads(tmp_path):
    from jupyterlab_server.settings_utils import _get_overrides

    app_dir = tmp_path / "share" / "jupyter" / "lab"
    path = labsettings.install(app_dir)
    assert path == app_dir / "settings" / "overrides.json"
    assert json.loads(path.read_text()) == labsettings.course_overrides()
    # jupyterlab_server's own reader (LabApp.app_settings_dir is <app dir>/settings)
    read, error = _get_overrides(str(app_dir / "settings"))
    assert not error
    for plugin_id, values in labsettings.course_overrides().items():
        assert read[plugin_id] | values == read[plugin_id]


def test_install_merges_with_an_existing_overrides_file_and_is_idempotent(tmp_path):
    path = labsettings.overrides_path(tmp_path)
    path.parent.mkdir(parents=True)
    theirs = {
        "@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
        "@jupyterlab/apputils-extension:notification": {"doNotDisturbMode": True, "fetchNews": "true"},
    }
    path.write_text(json.dumps(theirs))
    assert labsettings.install(tmp_path) == path
    merged = json.loads(path.read_text())
    assert merged == {
        "@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
        "@jupyterlab/apputils-extension:notification": {"doNotDisturbMode": True, "fetchNews": "false",
                                                        "checkForUpdates": False},
        "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
    }
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    labsettings.install(tmp_path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before, "a second install rewrote the file"
    assert [p.name for p in path.parent.iterdir()] == ["overrides.json"]  # no temporary file left


def test_install_refuses_to_overwrite_a_broken_overrides_file(tmp_path):
    path = labsettings.overrides_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"overrides\.json is not valid JSON .*fix or remove it"):
        labsettings.install(tmp_path)
    assert path.read_text() == "{not json"
    path.write_text("[]")
    with pytest.raises(ValueError, match=r"holds a JSON list, not an object of plugin ids"):
        labsettings.install(tmp_path)


def test_default_app_dir_is_jupyterlabs(monkeypatch, tmp_path):
    monkeypatch.delenv("JUPYTERLAB_DIR", raising=False)
    assert labsettings.default_app_dir() == Path(sys.prefix) / "share" / "jupyter" / "lab"
    monkeypatch.setenv("JUPYTERLAB_DIR", str(tmp_path))
    assert labsettings.overrides_path() == tmp_path.resolve() / "settings" / "overrides.json"


def test_command_line_installs_into_the_given_app_dir(tmp_path, capsys):
    assert labsettings.main(["--app-dir", str(tmp_path)]) == 0
    assert str(tmp_path / "settings" / "overrides.json") in capsys.readouterr().out
    assert json.loads((tmp_path / "settings" / "overrides.json").read_text()) == labsettings.course_overrides()


def test_make_venv_and_binder_postbuild_install_the_settings():
    post = (ROOT / "binder" / "postBuild").read_text()
    lines = [ln.strip() for ln in post.splitlines()]
    assert "python -m resnet_utils.labsettings" in lines, "binder/postBuild must install the JupyterLab settings"
    assert lines.index("python -m resnet_utils.labsettings") > lines.index("pip install --no-deps -e .")
    makefile = (ROOT / "Makefile").read_text()
    venv = re.search(r"^venv:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert venv and "-m resnet_utils.labsettings" in venv.group(1), \
        "the Makefile's venv target (so `make lab` too, on an existing .venv) must install the settings"
    assert re.search(r"^lab: .*\bvenv\b", makefile, re.M)
