"""Which sites a caller may see, as a where clause every site-data query carries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, true


@dataclass(frozen=True, slots=True)
class Visibility:
    """The sites a caller may read and change; `sites` None means every site."""

    sites: frozenset[str] | None = None

    @classmethod
    def of(cls, sites: Iterable[str] | None) -> Visibility:
        """An empty or missing list of sites means no restriction."""
        names = frozenset(sites or ())
        return cls(names or None)

    @property
    def restricted(self) -> bool:
        return self.sites is not None

    def allows(self, site: str | None) -> bool:
        """Whether rows of `site` are visible; None (an all-sites entry) only to unrestricted."""
        if self.sites is None:
            return True
        return site is not None and site in self.sites

    def clause(self, column: Any) -> ColumnElement[bool]:
        """The where clause limiting `column` (a site column) to the visible sites."""
        if self.sites is None:
            return true()
        if not self.sites:
            return false()
        return column.in_(sorted(self.sites))  # type: ignore[no-any-return]


EVERYTHING = Visibility()
