"""Packaging for serveract: one module (plus its type stubs), two dependencies."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "serveract.py").read_text(), re.M
).group(1)  # type: ignore[union-attr]

BENCH = ["flask>=2.2", "falcon>=3.1"]  # valgrind too, for --instructions
DOCS = ["sphinx>=8", "furo>=2024.8.6"]
TEST = [
    *BENCH,
    *DOCS,
    "bottle>=0.12",
    "pyramid>=2.0",
    "waitress>=2.1",
    "redis>=5",
    "hupper>=1.12",
    "pytest>=7",
    "webtest>=3",
    "hypothesis>=6",
    "django>=4.2",
    "gunicorn>=21",
    "jinja2>=3",
    "markupsafe>=2",
    "playwright==1.65.2",  # matched to Debian's chromium; never downloads a browser
    "jsonschema[format-nongpl]>=4.18",  # date-time and friends are checked
    "openapi-spec-validator>=0.7",
    "schemathesis>=4",
    "build>=1",
    "twine>=6",
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
    license_expression="MIT",
    license_files=["LICENSE"],
    py_modules=["serveract"],
    # A single module cannot carry py.typed (PEP 561): its types ship as a
    # stub-only package in the same wheel, which mypy and pyright find.
    packages=["serveract-stubs"],
    package_data={"serveract-stubs": ["__init__.pyi"]},
    python_requires=">=3.10.7",  # int max_str_digits: long JSON numbers stay cheap
    install_requires=["WebOb>=1.8", "multipart>=2.0"],
    extras_require={
        "redis": ["redis>=4.2"],
        "dev": ["hupper>=1.12"],
        "demo": ["waitress>=2.1"],
        "bench": BENCH,
        "docs": DOCS,
        "test": TEST,
    },
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: Web Environment",
        "Intended Audience :: Developers",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Internet :: WWW/HTTP :: WSGI :: Middleware",
        "Typing :: Typed",  # through serveract-stubs
    ],
)
