"""review-detector: finds fake and malicious reviews and builds appeal evidence."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("review-detector")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+local"
