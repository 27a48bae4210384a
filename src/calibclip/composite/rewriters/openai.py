"""``openai``: any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, ...).

Plain ``urllib`` against ``POST {base_url}/chat/completions`` (the OpenAI chat
completions wire format), so no client package is needed. Built for batch use:

* at most ``concurrency`` requests in flight (a thread pool);
* a per-request ``timeout``; transient failures (connection errors, timeouts,
  429 and 5xx) retried with exponential backoff;
* an on-disk ``AnswerCache`` keyed by (endpoint, model, prompt, generation
  parameters): each answer is committed as it arrives, so a rerun costs nothing
  and a run killed half-way resumes where it stopped;
* an answer that does not parse is replaced by ``rule`` and flagged; a request
  that fails for good raises ``RewriteError`` (answers already received stay
  cached), or, with ``fallback=True``, is answered by ``rule`` and flagged too.
  Once the endpoint is unreachable, the remaining requests are not sent.
"""
from __future__ import annotations

import http.client
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from calibclip.composite.rewriters.base import LLMRewriter, Rewriter
from calibclip.composite.rewriters.cache import AnswerCache, cache_key
from calibclip.errors import ConfigError, RewriteError

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_HINT = "start the server or check --base-url / OPENAI_API_KEY, or use --rewriter rule"


class OpenAIRewriter(LLMRewriter):
    """Rewrites queries with a chat model behind an OpenAI-compatible HTTP API.

    Args:
        base_url: e.g. ``http://localhost:8000/v1`` (env ``OPENAI_BASE_URL`` when omitted).
        model: the served model name.
        api_key: bearer token; env ``OPENAI_API_KEY``; may be empty for local servers.
        timeout: seconds per request (each attempt).
        retries: extra attempts after a transient failure.
        backoff: first wait in seconds, doubled after each failure.
        fallback: answer with ``rule`` (flagged) instead of raising when a request fails for good.
        max_tokens: answer length cap sent to the endpoint.
        concurrency: requests in flight at most.
        cache: path of the SQLite answer cache, or an ``AnswerCache``; None disables caching.
        prompt: prompt style ("one-shot", or "tuned" for a served LoRA of ``calibclip llm finetune``).

    Example:
        >>> rw = OpenAIRewriter("http://localhost:8000/v1", "qwen3", concurrency=8,
        ...                     cache="~/.cache/calibclip/llm_answers.sqlite")
        >>> rw.rewrite_many(["a dog on a sofa, no cats", "a man in a red coat"])
    """

    name = "openai"

    def __init__(self, base_url: str | None = None, model: str = "qwen3", api_key: str | None = None,
                 timeout: float = 60.0, retries: int = 3, backoff: float = 1.0, fallback: bool = False,
                 max_tokens: int = 256, concurrency: int = 4, cache: str | Path | AnswerCache | None = None,
                 rule: Rewriter | None = None, prompt: str = "one-shot") -> None:
        super().__init__(rule, prompt)
        if concurrency < 1 or timeout <= 0 or retries < 0:
            raise ConfigError(f"openai rewriter: concurrency {concurrency}, timeout {timeout}, retries {retries}",
                              "concurrency ≥ 1, timeout > 0 and retries ≥ 0")
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://localhost:8000/v1").rstrip("/")
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.fallback_when_down = fallback
        self.max_tokens, self.concurrency = max_tokens, concurrency
        self.cache = cache if isinstance(cache, AnswerCache) or cache is None else AnswerCache(cache)
        self.requests = 0                     # HTTP requests sent (retries included)
        self._count_lock = threading.Lock()
        self._down: RewriteError | None = None

    @property
    def params(self) -> dict:
        """The generation parameters sent with every request (part of the cache key)."""
        return {"temperature": 0, "max_tokens": self.max_tokens}

    def generate(self, prompts: Sequence[str]) -> list[str | RewriteError]:
        """Answers from the cache, then from the endpoint (``concurrency`` at a time), or the final error."""
        self._down = None
        keys = [cache_key(self.base_url, self.model, p, self.params) for p in prompts]
        answers: list[str | RewriteError | None] = [self.cache.get(k) if self.cache else None for k in keys]
        todo = [i for i, a in enumerate(answers) if a is None]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self._complete, prompts[i], keys[i]): i for i in todo}
            try:
                for future in tqdm(as_completed(futures), total=len(futures), desc=f"rewrite ({self.name})",
                                   leave=False, disable=len(futures) < 2):
                    try:
                        answers[futures[future]] = future.result()
                    except RewriteError as exc:
                        if not self.fallback_when_down:
                            raise
                        answers[futures[future]] = exc
            except RewriteError:
                for future in futures:
                    future.cancel()
                raise
        return answers

    def _complete(self, prompt: str, key: str) -> str:
        if self._down is not None:
            raise self._down
        body = json.dumps({"model": self.model, **self.params,
                           "messages": [{"role": "user", "content": prompt}]}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, headers=headers)
        reply = self._send(request)
        try:
            answer = str(reply["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            return ""  # not a chat completion: a malformed answer (rule takes over), not worth caching
        if self.cache is not None:
            self.cache.put(key, self.base_url, self.model, answer)
        return answer

    def _send(self, request: urllib.request.Request) -> dict:
        """POST with retries on transient failures; a reply that is not JSON counts as empty."""
        wait, last, unreachable = self.backoff, "", False
        for attempt in range(self.retries + 1):
            with self._count_lock:
                self.requests += 1
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    text = response.read().decode("utf-8", errors="replace")
                try:
                    return json.loads(text)
                except json.JSONDecodeError:
                    return {}
            except urllib.error.HTTPError as exc:
                last, unreachable = f"HTTP {exc.code}", False
                if exc.code not in _RETRY_STATUS:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"timed out after {self.timeout:g}s" if isinstance(reason, TimeoutError) else str(reason)
                unreachable = isinstance(exc, urllib.error.URLError) and not isinstance(reason, TimeoutError)
            if attempt < self.retries:
                log.info("rewriter endpoint %s failed (%s); retrying in %.1fs", self.base_url, last, wait)
                time.sleep(wait)
                wait *= 2
        error = RewriteError(f"LLM endpoint {self.base_url} failed after {attempt + 1} attempt(s): {last}", _HINT)
        if unreachable:
            self._down = error  # connection refused / DNS: do not send the remaining requests
        raise error
