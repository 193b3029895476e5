"""manifestor: stitch per-architecture images into one multi-platform tag."""

__version__ = "0.1.0"
