"""``openai``: any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, ...).

Plain ``urllib`` against ``POST {base_url}/chat/completions`` (the OpenAI chat
completions wire format), so no client package is needed. Transient failures
(connection errors, 429 and 5xx) are retried with exponential backoff; when
the endpoint stays down the rewriter raises ``RewriteError``, or answers with
the ``rule`` rewriter when created with ``fallback=True``.
"""
from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import Sequence

from calibclip.composite.rewriters.base import LLMRewriter, Rewriter
from calibclip.errors import RewriteError
from calibclip.types import Clauses

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class OpenAIRewriter(LLMRewriter):
    """Rewrites queries with a chat model behind an OpenAI-compatible HTTP API.

    Args:
        base_url: e.g. ``http://localhost:8000/v1`` (env ``OPENAI_BASE_URL`` when omitted).
        model: the served model name.
        api_key: bearer token; env ``OPENAI_API_KEY``; may be empty for local servers.
        timeout: seconds per request.
        retries: extra attempts after a transient failure.
        backoff: first wait in seconds, doubled after each failure.
        fallback: answer with ``rule`` instead of raising when the endpoint is down.
    """

    name = "openai"

    def __init__(self, base_url: str | None = None, model: str = "qwen3", api_key: str | None = None,
                 timeout: float = 60.0, retries: int = 3, backoff: float = 1.0, fallback: bool = False,
                 max_tokens: int = 256, rule: Rewriter | None = None) -> None:
        super().__init__(rule)
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://localhost:8000/v1").rstrip("/")
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.fallback_when_down = fallback
        self.max_tokens = max_tokens

    def generate(self, prompts: Sequence[str]) -> list[str]:
        return [self._complete(p) for p in prompts]

    def rewrite_many(self, queries: Sequence[str], lang: str = "en") -> list[Clauses]:
        try:
            return super().rewrite_many(queries, lang)
        except RewriteError as exc:
            if not self.fallback_when_down:
                raise
            log.warning("%s; using the rule rewriter instead", exc.one_line())
            return self.fallback.rewrite_many(queries, lang)

    def _complete(self, prompt: str) -> str:
        body = json.dumps({"model": self.model, "temperature": 0, "max_tokens": self.max_tokens,
                           "messages": [{"role": "user", "content": prompt}]}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, headers=headers)
        reply = self._send(request)
        try:
            return str(reply["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            return ""  # a reply without content is a malformed answer: the caller falls back to rule

    def _send(self, request: urllib.request.Request) -> dict:
        """POST with retries on transient failures; a reply that is not JSON counts as empty."""
        wait, last = self.backoff, ""
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    text = response.read().decode("utf-8", errors="replace")
                try:
                    return json.loads(text)
                except json.JSONDecodeError:
                    return {}
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code not in _RETRY_STATUS:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = str(getattr(exc, "reason", exc))
            if attempt < self.retries:
                log.info("rewriter endpoint %s failed (%s); retrying in %.1fs", self.base_url, last, wait)
                time.sleep(wait)
                wait *= 2
        raise RewriteError(f"LLM endpoint {self.base_url} failed after {attempt + 1} attempt(s): {last}",
                           "start the server or check --base-url / OPENAI_API_KEY, or use --rewriter rule")
