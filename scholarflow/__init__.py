"""Scholarflow: scholarly records in, a bilingual search index out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scholarflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
