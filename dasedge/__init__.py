"""dasedge: edge computing for fiber-optic Distributed Acoustic Sensing."""

from dasedge.block import DASBlock, BlockError, concat_time

__all__ = ["DASBlock", "BlockError", "concat_time", "__version__"]
__version__ = "0.1.0"
