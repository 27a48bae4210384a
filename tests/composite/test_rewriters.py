import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from calibclip.composite.clauses import format_tigr_text, parse_tigr_text
from calibclip.composite.rewriters import create_rewriter, list_rewriters
from calibclip.composite.rewriters.base import build_prompt, parse_answer
from calibclip.errors import BadQuery, CorruptData, RewriteError, SpecError, WeightsNotFound
from calibclip.types import Clauses

GOOD_LINE = ("a cat on a red sofa, no dogs | Time: none, place: none, person: none | Search intention: complex | "
             "Phrase, word expression optimization: a cat on a red sofa | Multi-agent logical relationship "
             "analysis: -AND: < a cat, a red sofa >, -NOT: < dogs >")


class _Server:
    """A real OpenAI-format chat endpoint on 127.0.0.1 replaying scripted (status, content) replies."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, dict(self.headers), body))
                status, content = outer.replies.pop(0) if outer.replies else (200, "")
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
                data = payload.encode() if status == 200 else b"server error"
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(request):
    srv = _Server(request.param)
    yield srv
    srv.close()


def test_registry_lists_every_rewriter_and_rejects_unknown():
    assert list_rewriters() == ["gold", "hf", "openai", "rule"]
    with pytest.raises(SpecError, match="unknown rewriter 'nope'"):
        create_rewriter("nope")


@pytest.mark.parametrize("server", [[(200, GOOD_LINE)]], indirect=True)
def test_openai_good_answer_is_parsed(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    rw = create_rewriter("openai", base_url=server.url, model="qwen3-test", backoff=0.01)
    got = rw.rewrite("a cat on a red sofa, no dogs")
    assert (got.and_clauses, got.not_clauses, got.optimized) == (("a cat", "a red sofa"), ("dogs",),
                                                                  "a cat on a red sofa")
    path, headers, body = server.requests[0]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "qwen3-test" and body["temperature"] == 0
    assert "Query: a cat on a red sofa, no dogs\nAnswer:" in body["messages"][0]["content"]


@pytest.mark.parametrize("server", [[(200, "Sure! Here you go: cats are nice.")]], indirect=True)
def test_openai_malformed_answer_falls_back_to_rule(server, caplog):
    rw = create_rewriter("openai", base_url=server.url, api_key="", backoff=0.01)
    with caplog.at_level(logging.WARNING):
        got = rw.rewrite("a cat on a red sofa, no dogs")
    assert got == create_rewriter("rule").rewrite("a cat on a red sofa, no dogs")
    assert "1 of 1 answer(s) unusable" in caplog.text and "falling back to the rule rewriter" in caplog.text
    assert "Authorization" not in server.requests[0][1]


@pytest.mark.parametrize("server", [[(500, ""), (503, ""), (200, GOOD_LINE)]], indirect=True)
def test_openai_retries_server_errors_then_succeeds(server):
    rw = create_rewriter("openai", base_url=server.url, retries=2, backoff=0.01)
    assert rw.rewrite("a cat on a red sofa, no dogs").not_clauses == ("dogs",)
    assert len(server.requests) == 3


@pytest.mark.parametrize("server", [[(500, "")] * 5], indirect=True)
def test_openai_persistent_500_raises_one_line_error_or_falls_back(server):
    rw = create_rewriter("openai", base_url=server.url, retries=2, backoff=0.01)
    with pytest.raises(RewriteError, match=r"failed after 3 attempt\(s\): HTTP 500") as info:
        rw.rewrite("a cat")
    assert "\n" not in info.value.one_line()
    assert len(server.requests) == 3
    soft = create_rewriter("openai", base_url=server.url, retries=0, backoff=0.01, fallback=True)
    assert soft.rewrite("a cat, no dogs").not_clauses == ("dogs",)


def test_openai_endpoint_down_raises_rewrite_error():
    srv = _Server([])
    url = srv.url
    srv.close()
    rw = create_rewriter("openai", base_url=url, retries=1, backoff=0.01, timeout=2)
    with pytest.raises(RewriteError, match="Connection refused") as info:
        rw.rewrite("a cat")
    assert "start the server" in info.value.one_line()


def _tiny_causal_lm():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = sorted(set("a cat dog on the sofa no and | AND NOT < > : query answer".split()))
    vocab = {w: i for i, w in enumerate(["[UNK]", "[EOS]", *words])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", eos_token="[EOS]")
    import torch

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_layer=1, n_embd=32, n_head=2, n_positions=512,
                                       bos_token_id=1, eos_token_id=1))
    return model.eval(), tokenizer


def test_hf_random_model_garbage_answer_falls_back_with_warning(caplog):
    model, tokenizer = _tiny_causal_lm()
    rw = create_rewriter("hf", model=model, tokenizer=tokenizer, max_new_tokens=6, batch_size=2)
    queries = ["a dog on the sofa, no cat", "a cat and a dog"]
    with caplog.at_level(logging.WARNING):
        got = rw.rewrite_many(queries)
    rule = create_rewriter("rule")
    assert got == [rule.rewrite(q) for q in queries]
    assert "hf rewriter: 2 of 2 answer(s) unusable" in caplog.text
    assert [c.extra["fallback"] for c in got] == ["rule", "rule"]


def test_hf_without_local_model_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsNotFound, match="config.json missing"):
        create_rewriter("hf", path=tmp_path)
    with pytest.raises(WeightsNotFound, match="local model folder"):
        create_rewriter("hf")


def test_parse_answer_accepts_rest_of_line_and_rejects_empty_and():
    rest = GOOD_LINE.split(" | ", 1)[1]
    thinking = "<think>\nthe user wants -AND: < a dog >, -NOT: < cats >\n</think>\n\n"   # Qwen3 with thinking on
    got = parse_answer("a cat on a red sofa, no dogs", thinking + rest)
    assert got.and_clauses == ("a cat", "a red sofa") and got.raw == "a cat on a red sofa, no dogs"
    with pytest.raises(CorruptData, match="no AND clause"):
        parse_answer("q", "q | Multi-agent logical relationship analysis: -AND: < >, -NOT: < x >")
    with pytest.raises(CorruptData, match="no '-AND"):
        parse_answer("q", "")


def test_prompt_example_round_trips_through_the_tigr_parser():
    prompt = build_prompt("a dog", "zh")
    example = prompt.split("Answer: ", 1)[1].split("\n", 1)[0]
    parsed = parse_tigr_text(example)
    assert len(parsed.and_clauses) == 4 and parsed.not_clauses == ("bicycles",)
    assert format_tigr_text(parsed) == example
    assert "Chinese" in prompt


def test_gold_rewriter_by_id_and_by_text():
    class Rec:
        def __init__(self, text_id, line):
            self.text_id, self.clauses = text_id, parse_tigr_text(line)

    gold = create_rewriter("gold", records=[Rec("t1", GOOD_LINE)])
    want = parse_tigr_text(GOOD_LINE)
    assert gold.rewrite("t1") == want
    assert gold.rewrite("  A cat on a red   sofa, no dogs ") == want
    with pytest.raises(RewriteError, match="no gold decomposition"):
        gold.rewrite("a horse")


@pytest.mark.parametrize("bad", ["", "   ", "\n"])
def test_empty_query_is_bad_query(bad):
    with pytest.raises(BadQuery, match="empty query"):
        create_rewriter("rule").rewrite(bad)


def test_unknown_language_is_bad_query():
    with pytest.raises(BadQuery, match="unsupported query language 'fr'"):
        create_rewriter("rule").rewrite("un chat", lang="fr")


def test_rewrite_many_matches_rewrite():
    rw = create_rewriter("rule")
    queries = ["a dog, no cats", "a man in a hat"]
    assert rw.rewrite_many(queries) == [rw.rewrite(q) for q in queries]
    assert isinstance(rw.rewrite_many(queries)[0], Clauses)
