"""The JSON API of ``calibclip serve`` against a real server: results, limits, ids only, 4xx with a message."""
import io
import socket

import httpx
import pytest
from PIL import Image

QUERY = "a man in a red coat with a black bag, no hat"


@pytest.fixture(scope="module")
def api(served):
    with httpx.Client(base_url=served[0], timeout=60) as client:
        yield client


def _search(api, **body):
    return api.post("/api/search", json={"q": QUERY, **body})


def test_search_returns_three_columns_equal_to_the_searcher(api, served, micro_spec):
    from calibclip.backbones import load_backbone
    from calibclip.search import Searcher

    response = _search(api, k=5)
    assert response.status_code == 200, response.text
    columns = response.json()["columns"]
    assert list(columns) == ["baseline", "calibrated", "composite"]
    with Searcher(served[1], backbone=load_backbone(micro_spec, "cpu")) as searcher:
        local = searcher.compare(QUERY, 5)
    for method, result in local.items():
        assert [h["id"] for h in columns[method]["hits"]] == [h.id for h in result.hits]
        # float32 products in two processes (other BLAS threading): equal to about 1e-6 relative
        assert [h["score"] for h in columns[method]["hits"]] == pytest.approx([h.score for h in result.hits], rel=1e-5)
    assert columns["calibrated"]["masked_words"] == local["calibrated"].masked_words
    assert columns["composite"]["clauses"]["not"] == ["hat"]
    assert set(columns["composite"]["hits"][0]["clauses"]["not"]) == {"hat"}
    assert all(h["path"] is None and h["name"].endswith(".png") for h in columns["baseline"]["hits"])
    only = _search(api, k=3, calibrate=False, composite=False).json()["columns"]
    assert list(only) == ["baseline"] and len(only["baseline"]["hits"]) == 3


def test_min_score_can_return_nothing(api):
    columns = _search(api, min_score=99).json()["columns"]
    assert all(c["hits"] == [] for c in columns.values())


@pytest.mark.parametrize("body, status, message", [
    ({"q": ""}, 422, "q: String should have at least 1 character"),
    ({"q": "   "}, 400, "empty query"),
    ({"q": "a" * 10_000}, 422, "q: String should have at most 500 characters"),
    ({"q": "a dog", "k": 10**6}, 422, "k: Input should be less than or equal to 100"),
    ({"q": "a dog", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ({"q": "a dog", "rewriter": "../../etc"}, 422, "rewriter: Input should be 'rule', 'hf' or 'openai'"),
    ({"q": "a dog", "path": "/etc/passwd"}, 422, "path: Extra inputs are not permitted"),
    ({"k": 3}, 422, "q: Field required"),
])
def test_bad_search_input_is_a_4xx_with_a_message(api, body, status, message):
    response = api.post("/api/search", json=body)
    assert response.status_code == status
    assert response.json()["detail"] == message or message in response.json()["detail"]


@pytest.mark.parametrize("content, kind", [
    ("q=a+dog", "application/x-www-form-urlencoded"), ('{"q": "a dog"}', "text/plain"), ("a dog", None)])
@pytest.mark.parametrize("path", ["/api/search", "/api/explain"])
def test_wrong_content_type_is_415(api, path, content, kind):
    headers = {"Content-Type": kind} if kind else {}
    response = api.post(path, content=content.encode(), headers=headers)
    assert response.status_code == 415
    assert "send JSON (Content-Type: application/json)" in response.json()["detail"]


def test_malformed_json_is_422(api):
    response = api.post("/api/search", content=b'{"q": "a dog"', headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"]


@pytest.mark.parametrize("attack", ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "1%2F..%2F..%2Fphotos.db", "-1",
                                    "1.5", "0x1", "1e3", "%00", "photos.db"])
@pytest.mark.parametrize("route", ["/api/thumb/", "/api/image/"])
def test_ids_are_whole_numbers_never_paths(api, route, attack):
    response = api.get(route + attack)
    assert response.status_code in (404, 422)
    assert b"root:" not in response.content and b"SQLite" not in response.content


def test_dot_segments_never_reach_a_file(api):
    raw = httpx.URL(api.base_url.join("/api/image/1")).copy_with(raw_path=b"/api/image/../../../../etc/passwd")
    response = api.get(raw)
    assert response.status_code == 404 and b"root:" not in response.content


@pytest.mark.parametrize("image_id", ["../../etc/passwd", -1, 1.5, "1"])
def test_explain_id_must_be_an_indexed_number(api, image_id):
    response = api.post("/api/explain", json={"q": QUERY, "id": image_id})
    if image_id == "1":   # a numeric string is the number 1 (pydantic's lax mode), an indexed id
        assert response.status_code == 200
        return
    assert response.status_code == 422 and "id:" in response.json()["detail"]


def test_unknown_ids_are_404(api):
    for path in ("/api/thumb/99999", "/api/image/99999"):
        response = api.get(path)
        assert response.status_code == 404 and "no image with id 99999" in response.json()["detail"]
    response = api.post("/api/explain", json={"q": QUERY, "id": 99999})
    assert response.status_code == 404 and "no image with id 99999" in response.json()["detail"]


def test_thumbnails_images_and_explanations(api, served):
    first = _search(api, k=1).json()["columns"]["calibrated"]["hits"][0]
    thumb = api.get(f"/api/thumb/{first['id']}")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size == (48, 64)   # small already: never enlarged
    assert list((served[1].parent / "photos.db.thumbs").glob(f"{first['id']}-*.jpg"))
    full = api.get(f"/api/image/{first['id']}")
    assert full.status_code == 200 and full.content == (served[2] / first["name"]).read_bytes()
    why = api.post("/api/explain", json={"q": QUERY, "id": first["id"]}).json()
    assert why["overlay"].startswith("data:image/png;base64,") and why["suppressed"]
    assert why["s_final"] == pytest.approx(first["score"], abs=1e-5)


def test_openapi_schema_and_page(api):
    schema = api.get("/openapi.json").json()
    assert {"/api/search", "/api/explain", "/api/thumb/{image_id}", "/api/image/{image_id}", "/api/info"} <= \
        set(schema["paths"])
    assert schema["components"]["schemas"]["SearchRequest"]["properties"]["q"]["maxLength"] == 500
    page = api.get("/")
    assert page.status_code == 200 and "<title>calibclip search</title>" in page.text
    assert "://" not in page.text.replace("http://www.w3.org", "")     # no CDN, no remote asset
    assert api.get("/docs").status_code == 404                           # Swagger UI would load from a CDN


def test_localhost_by_default(served):
    assert served[3].endswith(f"on {served[0]}") and served[0].startswith("http://127.0.0.1:")
    port = int(served[0].rsplit(":", 1)[1])
    try:  # the address this machine uses towards other hosts (a UDP "connect" sends nothing)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 9))
            outward = probe.getsockname()[0]
    except OSError:
        outward = "127.0.0.1"
    if outward.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to probe")
    with pytest.raises(OSError):
        socket.create_connection((outward, port), timeout=2).close()
