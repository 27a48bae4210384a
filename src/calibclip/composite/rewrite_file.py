"""Rewrite every query of a TIGR jsonl file into a new TIGR jsonl (the seed's ``reason.sh``).

The output keeps each record's ``text_id``, ``image_ids`` and
``image_xiangsi_ids`` and replaces ``text`` with the rewriter's TIGR line, so
``csdclip --dataset_path OUT.jsonl`` (its default ``gold`` rewriter reads the
line) evaluates the rewrite directly when OUT sits next to the dataset's
``lmdb/``. Each record also says who wrote it: ``rewriter``, and ``fallback``
(true where an LLM answer was unusable and ``rule`` wrote the line, with
``fallback_reason`` and the raw ``answer``). Written atomically: an
interrupted run leaves no half file.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from calibclip.composite.clauses import format_tigr_text
from calibclip.composite.rewriters.base import Rewriter
from calibclip.datasets.tigr import find_jsonl, read_queries
from calibclip.errors import ConfigError
from calibclip.types import Clauses


def output_record(query: Any, clauses: Clauses, rewriter: str) -> dict[str, Any]:
    """The TIGR record of one rewritten query, with its provenance."""
    record = {"text_id": query.text_id, "text": format_tigr_text(clauses), "image_ids": query.hr,
              "image_xiangsi_ids": query.mr, "rewriter": rewriter, "fallback": "fallback" in clauses.extra}
    if record["fallback"]:
        record.update(fallback_reason=clauses.extra.get("reason"), answer=clauses.extra.get("answer"))
    return record


def rewrite_tigr_file(rewriter: Rewriter, input_path: str | Path, output_path: str | Path,
                      lang: str | None = None) -> dict[str, Any]:
    """Rewrite the raw query of every record of ``input_path`` into ``output_path`` → summary.

    ``lang`` defaults to the file's ``en_``/``zh_`` prefix (else English).

    Example:
        >>> rewrite_tigr_file(create_rewriter("rule"), "data/tigr/en_test.jsonl", "data/tigr/en_rule.jsonl")
    """
    started = time.monotonic()
    _, path, file_lang = find_jsonl(input_path, lang or "en")
    output = Path(output_path)
    if output.resolve() == path.resolve():
        raise ConfigError(f"output {output} is the input file", "write to a new file")
    queries = read_queries(path)
    rewritten = rewriter.rewrite_many([q.clauses.raw for q in queries], lang or file_lang)
    records = [output_record(q, c, rewriter.name) for q, c in zip(queries, rewritten)]
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, output)
    return {"input": str(path), "output": str(output), "queries": len(records), "rewriter": rewriter.name,
            "fallback": sum(r["fallback"] for r in records), "seconds": round(time.monotonic() - started, 1)}
