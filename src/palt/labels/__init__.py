"""Canonical multi-label annotations: states 1 / 0 / −1, converters, statistics and groups."""

from palt.labels.encodings import (
    from_assume_negative,
    from_name_lists,
    from_single_positive,
    from_voc,
    to_assume_negative,
    to_name_lists,
    to_single_positive,
    to_voc,
)
from palt.labels.groups import GROUP_NAMES, GroupRule
from palt.labels.labelset import NEGATIVE, POSITIVE, UNKNOWN, LabelError, LabelSet

__all__ = [
    "GROUP_NAMES",
    "NEGATIVE",
    "POSITIVE",
    "UNKNOWN",
    "GroupRule",
    "LabelError",
    "LabelSet",
    "from_assume_negative",
    "from_name_lists",
    "from_single_positive",
    "from_voc",
    "to_assume_negative",
    "to_name_lists",
    "to_single_positive",
    "to_voc",
]
