"""Reproducible, self-describing archives of a build's artifacts, and their verification before flashing."""

from edgeconv.bundle.make import FORMAT, make_bundle, verify_bundle

__all__ = ["FORMAT", "make_bundle", "verify_bundle"]
