"""Pages of a list already in memory, with the attributes of Flask-SQLAlchemy's ``Pagination``
(``items, page, pages, total, has_prev, has_next, prev_num, next_num``) so one pager template
serves both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def paginate_list(items: Sequence[T], page: int, per_page: int) -> Page[T]:
    """Page ``page`` (from 1; out-of-range numbers are clamped) of ``items``."""
    total = len(items)
    last = max(1, -(-total // per_page))
    page = min(max(1, page), last)
    start = (page - 1) * per_page
    return Page(list(items[start : start + per_page]), page, per_page, total)
