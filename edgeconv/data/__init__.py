"""Calibration and evaluation data: read examples, select a reproducible subset, make model feeds."""

from edgeconv.data.feeds import FeedSet
from edgeconv.data.make import make_feeds

__all__ = ["FeedSet", "make_feeds"]
