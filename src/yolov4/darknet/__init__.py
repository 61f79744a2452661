"""Darknet compatibility: cfg files, weights files and the layer graph that executes them."""
from .cfg import Section, make_section, parse_cfg_text, read_cfg, write_cfg, write_cfg_text

__all__ = ["Section", "make_section", "parse_cfg_text", "read_cfg", "write_cfg", "write_cfg_text",
           "Darknet", "count_weights", "infer_layers", "summarize", "load_weights", "save_weights"]


def __getattr__(name):  # the graph imports torch; load it on first use
    if name == "Darknet":
        from .graph import Darknet
        return Darknet
    if name in ("count_weights", "infer_layers"):
        from . import shapes
        return getattr(shapes, name)
    if name == "summarize":
        from .summary import summarize
        return summarize
    if name in ("load_weights", "save_weights"):
        from . import weights
        return getattr(weights, name)
    raise AttributeError(name)
