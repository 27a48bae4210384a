"""``gold``: the decomposition already written in TIGR records (an upper bound for rewriters)."""
from __future__ import annotations

from typing import Iterable, Protocol

from calibclip.composite.rewriters.base import Rewriter, check_query
from calibclip.errors import RewriteError
from calibclip.types import Clauses


class _Record(Protocol):
    text_id: str
    clauses: Clauses


def _key(text: str) -> str:
    return " ".join(text.lower().split())


class GoldRewriter(Rewriter):
    """Looks a query up by text id or by raw text among TIGR records.

    Example:
        >>> gold = GoldRewriter(load_tigr("data/tigr100k").queries)
        >>> gold.rewrite("A woman in a green dress dancing ...").and_clauses
    """

    name = "gold"

    def __init__(self, records: Iterable[_Record] = ()) -> None:
        self._by_id: dict[str, Clauses] = {}
        self._by_text: dict[str, Clauses] = {}
        for record in records:
            self._by_id[record.text_id] = record.clauses
            self._by_text[_key(record.clauses.raw)] = record.clauses

    def __len__(self) -> int:
        return len(self._by_id)

    def rewrite(self, query: str, lang: str = "en") -> Clauses:
        """Return the record's clauses for a known ``text_id`` or raw query text."""
        query = check_query(query, lang)
        found = self._by_id.get(query) or self._by_text.get(_key(query))
        if found is None:
            raise RewriteError(f"no gold decomposition for query {query[:60]!r} ({len(self)} records known)",
                               "the gold rewriter only knows the dataset's own queries; use --rewriter rule")
        return found
