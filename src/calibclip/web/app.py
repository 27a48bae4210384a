"""The search page and its JSON API: a thin FastAPI shell over ``calibclip.search.Searcher``.

Handlers validate input, call the ``Searcher`` and render JSON; they never load
models or score. Images are addressed by database id (never by path), so only
indexed files can be served. Query length and ``k`` are capped; bad input gets
a 4xx with a one-line ``detail``. The OpenAPI schema is at ``/openapi.json``
(no Swagger page: it would load scripts from a CDN).

Example:
    >>> from calibclip.search import Searcher
    >>> app = create_app(Searcher("photos.db"))      # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""
from __future__ import annotations

import base64
import dataclasses
import io
import os
import threading
from importlib import resources
from typing import Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from calibclip import __version__
from calibclip.errors import BadImage, CalibclipError, UnknownImage
from calibclip.search import SearchResult, Searcher

MAX_QUERY = 500
MAX_K = 100


class SearchRequest(BaseModel):
    """One search from the page: which columns to show and how many results."""

    model_config = ConfigDict(extra="forbid")
    q: str = Field(min_length=1, max_length=MAX_QUERY, description="what to look for")
    k: int = Field(12, ge=1, le=MAX_K, description="results per column")
    calibrate: bool = Field(True, description="add the CalibCLIP column (and calibrate composite clauses)")
    composite: bool = Field(True, description="add the CsdCLIP composite column")
    rewriter: Literal["rule", "hf", "openai"] = Field("rule", description="how composite queries are decomposed")
    min_score: float | None = Field(None, ge=-100, le=100, description="keep results whose match is at least this")


class ExplainRequest(BaseModel):
    """Explain one result of a query."""

    model_config = ConfigDict(extra="forbid")
    q: str = Field(min_length=1, max_length=MAX_QUERY)
    id: int = Field(ge=0, description="image id from a search result")


def _json_body(request: Request) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise HTTPException(415, f"send JSON (Content-Type: application/json), not {kind or 'nothing'!r}")


def result_json(result: SearchResult) -> dict:
    """A ``SearchResult`` as plain JSON (no paths beyond the file name: ids address images)."""
    clauses = result.clauses
    return {"method": result.method, "searched": result.searched, "masked_words": result.masked_words,
            "clauses": None if clauses is None else {"optimized": clauses.optimized, "and": list(clauses.and_clauses),
                                                     "not": list(clauses.not_clauses)},
            "seconds": round(result.seconds, 4),
            "hits": [{**dataclasses.asdict(h), "path": None, "name": h.path.rsplit("/", 1)[-1]}
                     for h in result.hits]}


class _Served:
    """The searcher behind the app and the lock that gives it one call at a time (model + database)."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher, self.lock = searcher, threading.Lock()

    def __call__(self, method: str, *args, **kwargs):
        with self.lock:
            return getattr(self.searcher, method)(*args, **kwargs)


def _served(request: Request) -> _Served:
    return request.app.state.served


router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> str:
    return (resources.files("calibclip.web") / "static" / "index.html").read_text(encoding="utf-8")


@router.get("/api/info")
def info(served: _Served = Depends(_served)) -> dict:
    """Size and producer of the index (backbone, weights and calibration fingerprints)."""
    return served("info")


@router.post("/api/search", dependencies=[Depends(_json_body)])
def search(req: SearchRequest, served: _Served = Depends(_served)) -> dict:
    """Baseline, calibrated and composite results side by side."""
    results = served("compare", req.q, req.k, calibrate=req.calibrate, composite=req.composite,
                     rewriter=req.rewriter, min_score=req.min_score)
    return {"query": req.q, "min_score": req.min_score,
            "columns": {name: result_json(r) for name, r in results.items()}}


@router.post("/api/explain", dependencies=[Depends(_json_body)])
def explain(req: ExplainRequest, served: _Served = Depends(_served)) -> dict:
    """CVE heatmap (PNG data URL), DCC-masked words and the scores of one result."""
    why = served("explain", req.q, req.id)
    buffer = io.BytesIO()
    why.overlay.save(buffer, "PNG")
    return {"id": req.id, "masked_words": why.masked_words, "masked_text": why.masked_text,
            "suppressed": [list(b) for b in why.dominant_boxes], "s_orig": why.s_orig, "s_first": why.s_first,
            "s_disc": why.s_disc, "s_final": why.s_final,
            "overlay": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}


@router.get("/api/thumb/{image_id}", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def thumb(image_id: int, served: _Served = Depends(_served)) -> Response:
    """JPEG thumbnail of an indexed image (made on first request, then cached)."""
    try:
        data = served("thumbnail", image_id)
    except BadImage as exc:
        raise HTTPException(404, exc.one_line()) from exc
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


@router.get("/api/image/{image_id}", response_class=FileResponse)
def image(image_id: int, served: _Served = Depends(_served)) -> FileResponse:
    """The indexed file itself (only files in the index can be served)."""
    record = served("record", image_id)
    if not os.path.isfile(record.path):
        raise HTTPException(404, f"image {image_id} is no longer on disk (run calibclip index again)")
    return FileResponse(record.path)


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    """A 422 whose ``detail`` is one line: the first bad field and what is wrong with it."""
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return JSONResponse({"detail": f"{where}: {first.get('msg')}" if where else first.get("msg")}, 422)


async def _library_error(_: Request, exc: CalibclipError) -> JSONResponse:
    return JSONResponse({"detail": exc.one_line()}, 404 if isinstance(exc, UnknownImage) else 400)


def create_app(searcher: Searcher) -> FastAPI:
    """The FastAPI app serving ``searcher`` (calls into it one at a time)."""
    app = FastAPI(title="calibclip search", version=__version__, docs_url=None, redoc_url=None,
                  description="Calibrated (CalibCLIP) and composite (CsdCLIP) search over an indexed folder.")
    app.state.served = _Served(searcher)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(CalibclipError, _library_error)
    app.include_router(router)
    return app


__all__ = ["create_app", "SearchRequest", "ExplainRequest", "result_json", "MAX_QUERY", "MAX_K"]
