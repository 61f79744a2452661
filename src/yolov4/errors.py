"""Exceptions raised for bad user input: each message names the file and the problem."""
from __future__ import annotations


class YoloError(Exception):
    """Base class of every error caused by user input (files, options, data).

    The CLI prints ``str(err)`` as one line and exits non-zero; no traceback.
    """


class CfgError(YoloError, ValueError):
    """A Darknet ``.cfg`` file (or sections built in Python) is malformed."""


class WeightsError(YoloError, ValueError):
    """A Darknet ``.weights`` file does not fit the network it is loaded into."""


class DataError(YoloError, ValueError):
    """A dataset, label file or image cannot be used."""


class CheckpointError(YoloError, RuntimeError):
    """A training checkpoint cannot be loaded."""
