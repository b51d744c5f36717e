"""provenance: per-document provenance, consent, licensing and PII facts for web-scale training corpora."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("provenance")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
