"""mkdocs-gen-files script: writes the reference pages generated from the code (docs/reference.py)
into the site as it is built; none of them is kept in the repository."""

import sys
from pathlib import Path

import mkdocs_gen_files

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from docs import reference  # noqa: E402  (the repository root is on the path only from here)

for path, text in reference.pages():
    with mkdocs_gen_files.open(path, "w") as page:
        page.write(text)
