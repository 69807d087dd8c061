"""classifier/serve.py over real HTTP, with the demo model: the SageMaker container contract."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from classifier import serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(demo_model_dir):
    from classifier.engine import load_engine

    return load_engine(str(demo_model_dir), device="cpu", dtype="float32")


@contextmanager
def served(loader, *, max_body_bytes: int = serve.DEFAULT_MAX_BODY_BYTES) -> Iterator[tuple[str, int]]:
    app = serve.create_app("demo-model", max_body_bytes=max_body_bytes, loader=loader)
    server = serve.make_server_for(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_port
    finally:
        server.shutdown()
        server.server_close()
        app.slot.wait(timeout=10)


@pytest.fixture
def ready(demo) -> Iterator[tuple[str, int]]:
    with served(lambda model: demo) as address:
        assert wait_for_ping(address) == 200
        yield address


def request(address, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection(*address, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def invoke(address, payload, content_type="application/json", accept=None):
    body = json.dumps(payload) if content_type == "application/json" and not isinstance(payload, str) else payload
    headers = {"Content-Type": content_type} | ({"Accept": accept} if accept else {})
    status, kind, raw = request(address, "POST", "/invocations", body, headers)
    return status, kind, raw


def wait_for_ping(address, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        status = request(address, "GET", "/ping")[0]
        if status != 503 or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_ping_is_503_while_the_model_loads_and_200_once_it_is_loaded(demo):
    release = threading.Event()

    def slow_loader(model):
        release.wait(10)
        return demo

    with served(slow_loader) as address:
        status, _, body = request(address, "GET", "/ping")
        assert status == 503
        assert json.loads(body)["status"] == "loading"
        status, _, body = invoke(address, {"inputs": "too early"})
        assert status == 503
        assert "still loading" in json.loads(body)["error"]

        release.set()
        assert wait_for_ping(address) == 200
        answer = json.loads(request(address, "GET", "/ping")[2])
        assert answer == {"status": "ready", "model": demo.model_name, "device": "cpu", "dtype": "float32"}


def test_ping_reports_a_failed_load_with_500_and_the_reason():
    def broken_loader(model):
        raise OSError("no config.json in /opt/ml/model")

    with served(broken_loader) as address:
        assert wait_for_ping(address) == 500
        status, _, body = request(address, "GET", "/ping")
        assert json.loads(body) == {"status": "failed", "error": "OSError: no config.json in /opt/ml/model"}
        status, _, body = invoke(address, {"inputs": ["hello"]})
        assert status == 503
        assert "failed to load" in json.loads(body)["error"]


def test_it_classifies_a_single_string(ready, demo):
    status, kind, body = invoke(ready, {"inputs": "I love this, it is wonderful and works perfectly."})

    assert status == 200
    assert kind == "application/json"
    answer = json.loads(body)
    assert answer["model"] == demo.model_name
    assert answer["labels"] == ["negative", "positive"]  # the order of each probabilities list
    [prediction] = answer["predictions"]
    assert (prediction["label"], prediction["label_name"]) == (1, "positive")
    assert 0.5 < prediction["confidence"] <= 1.0
    assert prediction["probabilities"][1] == pytest.approx(prediction["confidence"])


def test_it_classifies_a_batch_in_input_order_with_the_engines_answers(ready, demo):
    texts = [
        "This is terrible, I hate it. It broke after a day.",
        "Great value, very happy.",
        "Awful service and a rude waiter; never again.",
        "Lovely staff and a great meal, we will be back soon with friends.",
    ]
    status, _, body = invoke(ready, {"inputs": texts})

    assert status == 200
    predictions = json.loads(body)["predictions"]
    expected = demo.predict(texts)
    assert [p["label"] for p in predictions] == [e.label for e in expected] == [0, 1, 0, 1]
    for got, want in zip(predictions, expected, strict=True):
        assert got["label_name"] == want.label_name
        assert got["confidence"] == pytest.approx(want.confidence, abs=1e-5)


def test_it_reads_csv_with_one_text_per_row(ready):
    body = (
        'Great value, very happy.\r\n"Terrible, broken and late.\nI hate it."\n\n'
        '"He said ""wonderful"", and it works perfectly."\n'
    )
    status, _, raw = invoke(ready, body, content_type="text/csv")

    assert status == 200
    assert [p["label_name"] for p in json.loads(raw)["predictions"]] == ["positive", "negative", "positive"]


def test_csv_rows_become_exactly_the_texts_they_hold():
    body = b'a, b and c\r\n"two\nlines"\n\n"say ""hi"""\n'
    assert serve._texts_from_csv(body) == ["a, b and c", "two\nlines", 'say "hi"']


def test_it_answers_in_csv_when_the_client_accepts_csv(ready):
    status, kind, raw = invoke(ready, {"inputs": ["Great value, very happy.", "I hate it."]}, accept="text/csv")

    assert status == 200
    assert kind.startswith("text/csv")
    rows = [line.split(",") for line in raw.decode().splitlines()]
    assert [(row[0], row[1]) for row in rows] == [("1", "positive"), ("0", "negative")]
    assert all(0.5 < float(row[2]) <= 1.0 and row[3] == "" for row in rows)


def test_a_text_that_makes_the_model_fail_gets_an_error_in_its_slot(ready, demo, monkeypatch):
    original = demo._predict_batch

    def predict_batch(encoded):
        if any(len(item["input_ids"]) > 40 for item in encoded):
            raise RuntimeError("CUDA error: device-side assert triggered")
        return original(encoded)

    monkeypatch.setattr(demo, "_predict_batch", predict_batch)
    status, _, body = invoke(ready, {"inputs": ["Great value.", "word " * 60, "I hate it."]})

    assert status == 200
    good, bad, other = json.loads(body)["predictions"]
    assert good["label_name"] == "positive" and other["label_name"] == "negative"
    assert bad == {"error": "RuntimeError: CUDA error: device-side assert triggered"}


def test_it_rejects_other_content_types_with_415(ready):
    status, _, body = invoke(ready, "inputs=hello", content_type="application/x-www-form-urlencoded")

    assert status == 415
    assert "application/json or text/csv" in json.loads(body)["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"inputs": ["unterminated', "not valid JSON"),
        ("[1, 2]", 'object with "inputs"'),
        ('{"text": "hello"}', 'object with "inputs"'),
        ('{"inputs": []}', "No inputs"),
        ('{"inputs": ["fine", 3]}', "inputs[1] is not a string"),
        ('{"inputs": ["fine", "   "]}', "inputs[1] is empty"),
        ('{"inputs": {"a": 1}}', "a string or a list of strings"),
        ('{"inputs": "x", "parameters": {}}', "Unknown field(s): parameters"),
    ],
)
def test_it_rejects_a_bad_json_body_with_400(ready, body, message):
    status, _, raw = invoke(ready, body)

    assert status == 400
    assert message in json.loads(raw)["error"]


def test_it_rejects_csv_with_broken_quoting_with_400(ready):
    status, _, raw = invoke(ready, 'fine\n"opened" then text\n', content_type="text/csv")

    assert status == 400
    assert "cannot be parsed at line 2" in json.loads(raw)["error"]


def test_it_rejects_csv_with_no_texts_with_400(ready):
    status, _, raw = invoke(ready, "\n  \n", content_type="text/csv")

    assert status == 400
    assert "No inputs" in json.loads(raw)["error"]


def test_it_rejects_a_body_over_the_limit_with_413_before_reading_it(demo):
    with served(lambda model: demo, max_body_bytes=1000) as address:
        wait_for_ping(address)
        status, _, raw = invoke(address, {"inputs": ["x" * 2000]})
        assert status == 413
        assert "limit of 1,000 bytes" in json.loads(raw)["error"]
        status, _, _ = invoke(address, {"inputs": ["small enough, and fine"]})
        assert status == 200


def test_it_asks_for_a_length_when_a_body_has_none(ready):
    connection = http.client.HTTPConnection(*ready, timeout=10)
    connection.putrequest("POST", "/invocations")
    connection.putheader("Content-Type", "application/json")
    connection.endheaders()
    response = connection.getresponse()

    assert response.status == 411
    connection.close()


def test_it_refuses_an_answer_format_it_cannot_give_with_406(ready):
    status, _, raw = invoke(ready, {"inputs": "hello"}, accept="application/x-protobuf")
    assert status == 406
    assert "accept application/json or text/csv" in json.loads(raw)["error"]


def test_unknown_routes_are_404_and_wrong_methods_405(ready):
    assert request(ready, "GET", "/predict")[0] == 404
    assert request(ready, "GET", "/invocations")[0] == 405
    assert request(ready, "POST", "/ping", b"{}", {"Content-Type": "application/json"})[0] == 405
    status, _, body = request(ready, "GET", "/execution-parameters")
    assert status == 200
    assert json.loads(body) == {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}


def test_concurrent_requests_each_get_their_own_answers(ready):
    texts = ["Great value, very happy.", "I hate it, it broke.", "Wonderful, works perfectly.", "Awful and rude."]
    results: dict[int, list[str]] = {}

    def call(index: int) -> None:
        batch = [texts[index], texts[(index + 1) % 4]]
        results[index] = [p["label_name"] for p in json.loads(invoke(ready, {"inputs": batch})[2])["predictions"]]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    names = ["positive", "negative", "positive", "negative"]
    assert results == {i: [names[i], names[(i + 1) % 4]] for i in range(4)}


def test_the_serving_module_never_imports_django():
    code = "import sys, classifier.serve, classifier.engine; assert 'django' not in sys.modules, 'django imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_python_dash_m_classifier_serve_starts_a_server_anywhere(demo_model_dir):
    process = subprocess.Popen(
        [sys.executable, "-m", "classifier.serve", "--port", "0", "--model", str(demo_model_dir)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "CLASSIFIER_DEVICE": "cpu", "CLASSIFIER_DTYPE": "float32"},
    )
    try:
        port = None
        for line in process.stderr:
            found = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        assert port, "the server never said where it listens"
        address = ("127.0.0.1", port)
        assert wait_for_ping(address, timeout=120) == 200
        status, _, body = invoke(address, {"inputs": ["Wonderful, works perfectly."]})
        assert status == 200
        assert json.loads(body)["predictions"][0]["label_name"] == "positive"
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.stderr.close()
