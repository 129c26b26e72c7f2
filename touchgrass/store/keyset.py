"""Keyset pages: how every list reads its rows a bounded batch at a time.

Every list is ordered by (a timestamp, id). A page is `ORDER BY ... LIMIT n` and the next
one starts strictly after the last row's `Key`, with a row comparison that an index in the
same order answers by starting at the key (migration 0004). Unlike OFFSET, page 10,000 costs
what page 1 costs, and rows written meanwhile neither repeat nor shift the pages after them.

The statements are composed: only the filters a request gives, and the key predicate only
after the first page, are in the WHERE clause. A `$1::uuid IS NULL OR col = $1` style would
need one statement for all cases, but a generic plan of it cannot choose the filter's index.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

__all__ = ["Conditions", "Key", "compose", "key_of"]


@dataclass(frozen=True, slots=True)
class Key:
    """Where a page ends: the ordering timestamp and id of its last row."""

    at: datetime
    id: UUID


def key_of(row: Mapping[str, Any]) -> Key:
    """Every page statement selects its ordering columns as `key_at` and `key_id`."""
    return Key(row["key_at"], row["key_id"])


_PLACEHOLDER = re.compile(r"\$\?")


@functools.lru_cache(maxsize=256)
def compose(template: str, conditions: Sequence[str]) -> str:
    """`template` with `{where}` replaced by `conditions` ANDed (TRUE when there are none).

    Each condition writes its parameters as `$?`; they are numbered from `$2` on, in order
    (`$1` is the page's LIMIT). Cached: a request names one of a few dozen combinations.
    """
    numbers = itertools.count(2)
    where = " AND ".join(conditions) or "TRUE"
    return template.replace("{where}", _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", where))


@dataclass
class Conditions:
    """The WHERE clause of one page, built up condition by condition with its arguments."""

    parts: list[str] = field(default_factory=list)
    arguments: list[Any] = field(default_factory=list)

    def where(self, condition: str, *arguments: Any) -> Conditions:
        self.parts.append(condition)
        self.arguments.extend(arguments)
        return self

    def after(self, condition: str, key: Key | None) -> Conditions:
        """The key predicate, only after the first page; `condition` takes (at, id)."""
        return self if key is None else self.where(condition, key.at, key.id)

    def statement(self, template: str) -> str:
        return compose(template, tuple(self.parts))
