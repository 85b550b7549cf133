"""Find ``mailsink.web`` and ``mailsink.pytest_plugin`` when mailsink runs from its source tree.

The repository keeps those subpackages in the top-level folders ``web/`` and
``pytest_plugin/``; the wheel places them at ``mailsink/web`` and
``mailsink/pytest_plugin`` (pyproject's ``package-dir``).  Python run from the
repository root imports ``mailsink`` from the source folder ``mailsink/``,
which shadows the installed copy and has no ``web`` inside, so after a plain
``pip install .`` ``python -m mailsink`` failed with ``No module named
'mailsink.web'``.  When, and only when, ``mailsink`` was imported from such a
source tree, a finder maps the two names to the sibling folders, so the
source tree runs as one consistent version of itself.  (An editable install's
own finder does the same for a development venv.)
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType

SUBPACKAGES = {"mailsink.web": "web", "mailsink.pytest_plugin": "pytest_plugin"}
"""Each subpackage and the folder beside ``mailsink/`` that holds it in the source tree."""


class SourceTreeFinder:
    """Import ``mailsink.web`` and ``mailsink.pytest_plugin`` from the source tree's folders."""

    def __init__(self, root: str) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """Return the spec of a sibling-folder subpackage; None for every other name."""
        folder = SUBPACKAGES.get(fullname)
        if folder is None:
            return None
        from importlib.util import spec_from_file_location

        location = os.path.join(self.root, folder)
        return spec_from_file_location(
            fullname,
            os.path.join(location, "__init__.py"),
            submodule_search_locations=[location],
        )


def install(package_dir: str) -> None:
    """Add the finder if ``package_dir`` (``mailsink/``) is the source tree's folder."""
    root = os.path.dirname(package_dir)
    if os.path.isdir(os.path.join(package_dir, "web")):
        return  # installed from the wheel: the subpackages are inside
    if not all(os.path.isfile(os.path.join(root, f, "__init__.py")) for f in SUBPACKAGES.values()):
        return
    if not any(isinstance(f, SourceTreeFinder) for f in sys.meta_path):
        # Last: an editable install's finder, placed earlier, answers first.
        sys.meta_path.append(SourceTreeFinder(root))
