"""Where the files Scholarflow reads at run time live: the index mappings (`index_mappings/`), the
judged queries (`relevance/`) and the embedded engine's Maven module (`engine/`).

They are edited at the repository root, where a checkout (and an editable install, which runs
the checkout) finds them. An installed wheel has no repository around it, so it carries copies
inside the package, under `_data/` (`force-include` in pyproject.toml); a checkout never has that
folder, so its presence alone tells the two apart. (An editable install also gets such copies in
site-packages, but it imports the checkout's package, which reads the checkout's folders.)
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
BUNDLED = PACKAGE / "_data"
INSTALLED = BUNDLED.is_dir()


def data_dir(name: str) -> Path:
    """The folder `name` (`index_mappings`, `relevance`, `engine`) of this installation."""
    return (BUNDLED if INSTALLED else PACKAGE.parent) / name
