"""Sphinx configuration for serveract's documentation.

Build with ``python -m sphinx -W --keep-going docs docs/_build/html``, run the
doctests with ``python -m sphinx -b doctest docs docs/_build/doctest``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Document the serveract.py of this checkout, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import serveract

project = "serveract"
author = "serveract contributors"
copyright = "serveract contributors"
release = serveract.__version__
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "sphinx.ext.doctest"]
exclude_patterns = ["_build"]
root_doc = "index"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

# Every doctest (in these pages and in the docstrings autodoc pulls in) starts
# with these names, as if the reader had typed the imports.
doctest_global_setup = """
import serveract
from serveract import *
from webob import Request
"""

html_theme = "furo"
html_title = f"serveract {release}"
html_static_path = ["_static"]
html_css_files = ["serveract.css"]
