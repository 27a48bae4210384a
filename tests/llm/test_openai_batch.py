"""The hardened ``openai`` rewriter against a real OpenAI-format chat server on 127.0.0.1.

The server answers by the query inside the prompt: canned good lines, malformed
answers, one slow answer (first attempt only), a query that fails with 500 twice
before succeeding, and one that always fails. It counts requests per query and
the largest number of requests in flight at once.
"""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from calibclip.cli.main import main
from calibclip.composite.clauses import parse_tigr_text
from calibclip.composite.rewriters import create_rewriter
from calibclip.composite.rewriters.cache import AnswerCache
from calibclip.errors import RewriteError

RULE = create_rewriter("rule")


def good_line(query: str, n: int) -> str:
    ands = ", ".join(f"part {i} of {query.split()[1]}" for i in range(n))
    return (f"Time: none, place: none, person: none | Search intention: complex | Phrase, word expression "
            f"optimization: {query} | Multi-agent logical relationship analysis: -AND: < {ands} >, -NOT: < cats >")


class ChatServer:
    """Behaviour per query word: good*, junk* (malformed), slow* (first try sleeps), hang* (every try sleeps),
    flaky* (500, 500, ok), down* (always 500), think* (a Qwen3-style <think> block before the line)."""

    def __init__(self, delay: float = 0.15, slow: float = 1.5):
        self.lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.in_flight = self.max_in_flight = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                query = re.findall(r"Query: (.*)\nAnswer:$", body["messages"][0]["content"])[-1]
                with outer.lock:
                    outer.calls[query] = n = outer.calls.get(query, 0) + 1
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                late = query.startswith("hang") or (query.startswith("slow") and n == 1)
                time.sleep(slow if late else delay)
                with outer.lock:
                    outer.in_flight -= 1  # before replying: the client may send its next request at once
                self._reply(query, n)

            def _reply(self, query, n):
                if query.startswith("down") or (query.startswith("flaky") and n <= 2):
                    status, data = 500, b"internal error"
                else:
                    content = "I cannot help with that." if query.startswith("junk") else good_line(query, 2)
                    if query.startswith("think"):
                        content = f"<think>\nmaybe -AND: < {query} >, -NOT: < dogs >?\n</think>\n\n{content}"
                    status = 200
                    data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = ChatServer()
    yield srv
    srv.close()


def _rewriter(url, cache, **kw):
    opts = dict(base_url=url, model="qwen3-test", timeout=0.6, retries=2, backoff=0.05, concurrency=3, cache=cache)
    return create_rewriter("openai", **{**opts, **kw})


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_limit_is_what_the_server_sees(server, concurrency):
    got = _rewriter(server.url, None, concurrency=concurrency).rewrite_many([f"good {w}" for w in "abcdefgh"])
    assert server.max_in_flight == concurrency and len(got) == 8


def test_batch_timeouts_retries_fallback_and_cache(server, tmp_path):
    queries = [f"good {w}" for w in "abcdefgh"] + ["junk x", "slow y", "flaky z", "down w"]
    rw = _rewriter(server.url, tmp_path / "answers.sqlite", fallback=True)
    got = rw.rewrite_many(queries)
    assert [c.and_clauses for c in got[:8]] == [(f"part 0 of {w}", f"part 1 of {w}") for w in "abcdefgh"]
    assert all("fallback" not in c.extra for c in got[:8] + got[9:11])
    assert server.calls["slow y"] == 2 and got[9].and_clauses == ("part 0 of y", "part 1 of y")  # timeout → retry
    assert server.calls["flaky z"] == 3 and got[10].not_clauses == ("cats",)                     # 500, 500 → ok
    junk, down = got[8], got[11]
    assert junk == RULE.rewrite("junk x") and junk.extra["fallback"] == "rule"
    assert "no '-AND" in junk.extra["reason"] and junk.extra["answer"] == "I cannot help with that."
    assert down == RULE.rewrite("down w") and "HTTP 500" in down.extra["reason"] and server.calls["down w"] == 3
    assert len(AnswerCache(tmp_path / "answers.sqlite")) == 11        # every answer that came back, junk too

    calls = dict(server.calls)
    again = _rewriter(server.url, tmp_path / "answers.sqlite", fallback=True)
    second = again.rewrite_many(queries)
    assert second == got and [c.extra.get("fallback") for c in second] == [c.extra.get("fallback") for c in got]
    assert again.cache.hits == 11 and again.requests == 3              # only the failing query is asked again
    assert {q: server.calls[q] - calls[q] for q in queries if server.calls[q] != calls[q]} == {"down w": 3}


def test_a_run_stopped_half_way_resumes_from_the_cache(server, tmp_path):
    cache = tmp_path / "answers.sqlite"
    queries = ["down v"] + [f"good {i}" for i in range(20)]
    with pytest.raises(RewriteError, match=r"failed after 3 attempt\(s\): HTTP 500"):
        _rewriter(server.url, cache, retries=2).rewrite_many(queries)   # no fallback: the batch stops early
    kept = len(AnswerCache(cache))
    assert 1 <= kept < 20                                               # answers that arrived were kept
    rw = _rewriter(server.url, cache, fallback=True)
    got = rw.rewrite_many(queries)
    assert rw.cache.hits == kept and rw.requests == (20 - kept) + 3     # the rerun pays for the rest only
    assert [c.extra.get("fallback") for c in got] == ["rule"] + [None] * 20


def test_a_request_that_always_times_out_is_cut_at_the_timeout_and_falls_back(server):
    rw = _rewriter(server.url, None, retries=1, fallback=True)
    started = time.monotonic()
    got = rw.rewrite_many(["hang v", "think w"])
    elapsed = time.monotonic() - started
    assert server.calls["hang v"] == 2 and elapsed < 2 * 1.5        # two attempts, each cut at 0.6 s, not 1.5 s
    assert got[0] == RULE.rewrite("hang v") and "2 attempt(s): timed out after 0.6s" in got[0].extra["reason"]
    assert got[1].and_clauses == ("part 0 of w", "part 1 of w") and got[1].not_clauses == ("cats",)  # <think> dropped


def test_unreachable_endpoint_stops_sending_and_falls_back(tmp_path):
    srv = ChatServer()
    url = srv.url
    srv.close()
    rw = _rewriter(url, None, retries=1, concurrency=1, fallback=True)
    got = rw.rewrite_many(["good a", "good b", "good c"])
    assert rw.requests == 2                                             # one query's attempts, then no more
    assert all(c.extra["fallback"] == "rule" for c in got) and not (tmp_path / "answers.sqlite").exists()


def test_cache_key_includes_model_and_generation_parameters(server, tmp_path):
    cache = tmp_path / "answers.sqlite"
    _rewriter(server.url, cache).rewrite("good a")
    _rewriter(server.url, cache, model="other").rewrite("good a")
    _rewriter(server.url, cache, max_tokens=64).rewrite("good a")
    _rewriter(server.url, cache).rewrite("good a")
    assert server.calls["good a"] == 3 and len(AnswerCache(cache)) == 3


def test_llm_rewrite_cli_through_an_endpoint_writes_flagged_tigr_lines(server, tmp_path, capsys):
    data = tmp_path / "en_q.jsonl"
    data.write_text("".join(json.dumps({"text_id": f"t{i}", "text": q, "image_ids": [f"h{i}"],
                                        "image_xiangsi_ids": []}) + "\n"
                            for i, q in enumerate(["good a", "junk b, no dogs"])), encoding="utf-8")
    out = tmp_path / "en_llm.jsonl"
    args = ["llm", "rewrite", "--endpoint", server.url, "--model", "qwen3-test", "--data", str(data),
            "--out", str(out), "--cache", str(tmp_path / "c.sqlite"), "--retries", "0"]
    assert main(args) == 0
    assert "rewrote 2 queries with openai (1 by the rule fallback, flagged)" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["text_id"], r["fallback"], r["image_ids"]) for r in rows] == [("t0", False, ["h0"]),
                                                                            ("t1", True, ["h1"])]
    assert parse_tigr_text(rows[0]["text"]).and_clauses == ("part 0 of a", "part 1 of a")
    assert parse_tigr_text(rows[1]["text"]).not_clauses == ("dogs",) and "no '-AND" in rows[1]["fallback_reason"]
