"""Packaging for serveract: one module, one dependency (WebOb)."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "serveract.py").read_text(), re.M
).group(1)  # type: ignore[union-attr]

BENCH = ["flask>=2.2", "bottle>=0.12", "pyramid>=2.0", "falcon>=3.1", "waitress>=2.1"]
TEST = [
    *BENCH,
    "pytest>=7",
    "webtest>=3",
    "hypothesis>=6",
    "django>=4.2",
    "gunicorn>=21",
    "jinja2>=3",
    "playwright==1.65.2",  # matched to Debian's chromium; never downloads a browser
    "ruff>=0.6",
    "mypy>=1.10",
    "pyramid_chameleon",
    "types-WebOb",
    "types-waitress",
]

setup(
    name="serveract",
    version=VERSION,
    description="Server actions for any WSGI app: call Python from the page, safely.",
    long_description=(HERE / "README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    author="serveract contributors",
    license="MIT",
    py_modules=["serveract"],
    python_requires=">=3.10.7",  # int max_str_digits: long JSON numbers stay cheap
    install_requires=["WebOb>=1.8"],
    extras_require={"demo": ["waitress>=2.1"], "bench": BENCH, "test": TEST},
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: Web Environment",
        "Intended Audience :: Developers",
        "License :: OSI Approved :: MIT License",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Internet :: WWW/HTTP :: WSGI :: Middleware",
        "Typing :: Typed",
    ],
)
