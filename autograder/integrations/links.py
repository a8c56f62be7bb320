"""Links that open the course's release notebook on mybinder.org or on a JupyterHub.

``python -m autograder links --repo OWNER/NAME [--ref REF] [--hub URL] [--assignment A | --path PATH]``
prints them (:func:`links_text`); every function here is pure and returns strings.

- **mybinder.org**: ``https://mybinder.org/v2/gh/OWNER/NAME/REF?urlpath=lab/tree/PATH``.
  BinderHub builds the repository at REF with repo2docker (the ``binder/`` folder) and then
  redirects to ``urlpath``, relative to the Jupyter server's root: ``lab/tree/PATH`` opens
  PATH in JupyterLab (the form the mybinder.org documentation shows). REF may contain
  ``/`` (BinderHub splits the spec ``OWNER/NAME/REF`` at the first two slashes only).
  Characters that would end or change a URL component (space, ``?``, ``#``, ``&``, ``+``,
  ``%``, non-ASCII) are percent-encoded; ``/`` is kept, as in the documented links.
- **A JupyterHub with nbgitpuller**:
  ``HUB/hub/user-redirect/git-pull?repo=...&branch=...&urlpath=lab/tree/NAME/PATH``.
  nbgitpuller clones (or updates) the repository into a folder named after it (``NAME``) in
  the user's home, so ``urlpath`` must start with that folder. Each parameter value is
  percent-encoded completely (``/`` and ``:`` included), as nbgitpuller's own link generator
  does (JavaScript ``URLSearchParams``).

Invalid input raises :class:`LinkError` with a message meant for the person who typed it.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from ..course import ASSIGNMENTS, RELEASE_NB, ROOT, release_nb

__all__ = ["BADGE_IMAGE", "BINDER", "DEFAULT_PATH", "DEFAULT_REF", "LinkError", "badge_markdown",
           "binder_url", "check_hub", "check_path", "check_ref", "links_text", "nbgitpuller_url",
           "parse_repo", "release_path"]

#: The release notebook, relative to the repository root (the course's own constant).
DEFAULT_PATH = RELEASE_NB.relative_to(ROOT).as_posix()
DEFAULT_REF = "main"


def release_path(assignment: str) -> str:
    """The release notebook of ``assignment``, relative to the repository root (what ``--assignment`` opens)."""
    if assignment not in ASSIGNMENTS:
        raise LinkError(f"unknown assignment {assignment!r}; the course has {', '.join(ASSIGNMENTS)}")
    return release_nb(assignment).relative_to(ROOT).as_posix()

BINDER = "https://mybinder.org"
BADGE_IMAGE = "https://mybinder.org/badge_logo.svg"

# GitHub's rules: an owner is 1-39 letters, digits or inner hyphens; a repository name is
# letters, digits, ".", "-" and "_" (not "." or "..").
_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
_EXAMPLE = "e.g. alice/resnet-course"


class LinkError(ValueError):
    """An input that cannot make a valid link; the message says what is wrong."""


def parse_repo(repo: str) -> tuple[str, str]:
    """``(owner, name)`` of a GitHub repository given as ``OWNER/NAME``."""
    text = (repo or "").strip()
    if "://" in text or text.startswith(("github.com/", "git@")):
        raise LinkError(f"--repo takes OWNER/NAME ({_EXAMPLE}), not a URL: got {repo!r}")
    parts = text.split("/")
    if len(parts) != 2 or not all(parts):
        raise LinkError(f"--repo must be of the form OWNER/NAME ({_EXAMPLE}), got {repo!r}")
    owner, name = parts
    if not _OWNER.fullmatch(owner):
        raise LinkError(f"--repo: {owner!r} is not a GitHub owner (letters, digits and inner hyphens, "
                        f"at most 39 characters), in {repo!r}")
    if name.endswith(".git"):
        raise LinkError(f"--repo: drop the '.git' suffix: {owner}/{name[:-4]}")
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise LinkError(f"--repo: {name!r} is not a GitHub repository name (letters, digits, "
                        f"'.', '-' and '_'), in {repo!r}")
    return owner, name


def check_ref(ref: str) -> str:
    """The git branch, tag or commit ``ref``, checked (no spaces or control characters)."""
    if not ref or not ref.strip():
        raise LinkError("--ref must not be empty (a branch, tag or commit, e.g. main)")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in ref) or ".." in ref \
            or any(c in ref for c in "~^:?*[\\") or ref.startswith(("/", "-")) or ref.endswith(("/", ".lock")):
        raise LinkError(f"--ref {ref!r} is not a valid git branch, tag or commit name")
    return ref


def check_path(path: str) -> str:
    """A file path inside the repository, relative, with ``/`` separators and no ``..``."""
    if not path or not path.strip():
        raise LinkError("--path must not be empty")
    if path.startswith("/") or "\\" in path:
        raise LinkError(f"--path must be relative to the repository root with '/' separators "
                        f"(e.g. {DEFAULT_PATH}), got {path!r}")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise LinkError(f"--path must not contain empty, '.' or '..' parts, got {path!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise LinkError(f"--path contains a control character: {path!r}")
    return path


def check_hub(hub: str) -> str:
    """A JupyterHub's base URL (``http(s)://host[/prefix]``), without a trailing slash."""
    parts = urlsplit((hub or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LinkError(f"--hub must be the JupyterHub's http(s) URL, e.g. https://hub.example.org, got {hub!r}")
    if parts.query or parts.fragment:
        raise LinkError(f"--hub must be the hub's base URL, without '?' or '#': got {hub!r}")
    path = parts.path.rstrip("/")
    if "/hub/" in path + "/":  # e.g. https://hub.example.org/hub/home: the link adds /hub/ itself
        raise LinkError(f"--hub must be the hub's base URL, without '/hub/...': "
                        f"{parts.scheme}://{parts.netloc}{(path + '/').split('/hub/')[0]}")
    return f"{parts.scheme}://{parts.netloc}{path}"


def binder_url(repo: str, ref: str = DEFAULT_REF, path: str = DEFAULT_PATH) -> str:
    """The mybinder.org URL that builds ``repo`` at ``ref`` and opens ``path`` in JupyterLab."""
    owner, name = parse_repo(repo)
    ref, path = check_ref(ref), check_path(path)
    return f"{BINDER}/v2/gh/{owner}/{name}/{quote(ref, safe='/')}?urlpath={quote('lab/tree/' + path, safe='/')}"


def badge_markdown(url: str) -> str:
    """The "launch binder" badge in Markdown, linking to ``url``."""
    return f"[![Binder]({BADGE_IMAGE})]({url})"


def nbgitpuller_url(hub: str, repo: str, ref: str = DEFAULT_REF, path: str = DEFAULT_PATH) -> str:
    """The nbgitpuller link that clones ``repo`` at branch ``ref`` on the JupyterHub at ``hub``
    into the folder ``NAME`` and opens ``NAME/path`` in JupyterLab."""
    base = check_hub(hub)
    owner, name = parse_repo(repo)
    ref, path = check_ref(ref), check_path(path)
    params = [("repo", f"https://github.com/{owner}/{name}"), ("branch", ref),
              ("urlpath", f"lab/tree/{name}/{path}")]
    query = "&".join(f"{key}={quote(value, safe='')}" for key, value in params)
    return f"{base}/hub/user-redirect/git-pull?{query}"


def links_text(repo: str, ref: str = DEFAULT_REF, path: str = DEFAULT_PATH, hub: str | None = None) -> str:
    """What ``python -m autograder links`` prints: the badge, the Binder URL and, with
    ``hub``, the nbgitpuller link (each on its own line under a heading line)."""
    url = binder_url(repo, ref, path)
    lines = ["mybinder.org badge (Markdown, for the README):", badge_markdown(url), "",
             f"mybinder.org URL (opens {path} in JupyterLab):", url]
    if hub is not None:
        lines += ["", f"JupyterHub link (nbgitpuller clones {repo} into ~/{parse_repo(repo)[1]} and opens the notebook):",
                  nbgitpuller_url(hub, repo, ref, path)]
    return "\n".join(lines) + "\n"
