"""The web API in-process (Starlette's TestClient): answers, activations, and every kind of bad request.

Needs the web extra and httpx (``pip install "glassnet[web]" httpx``); skipped otherwise.
"""
import io
import json
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest

pytest.importorskip("starlette", reason='needs the web extra: pip install "glassnet[web]"')
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx: pip install httpx")
with warnings.catch_warnings():                                  # Starlette asks for "httpx2"; httpx works
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient                  # noqa: E402

from glassnet import cli, images                                 # noqa: E402
from glassnet.datasets import mnist                              # noqa: E402
from glassnet.web import inference                               # noqa: E402
from glassnet.web.app import MAX_BODY, create_app                # noqa: E402


@pytest.fixture(scope="module")
def served():
    return inference.load_models()


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app(served), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def digits():
    (_, _), (x_test, y_test) = mnist.load_embedded()
    return x_test[:20], y_test[:20]


def png_bytes(array, tmp_path):
    path = tmp_path / "digit.png"
    images.write_png(path, array)
    return path.read_bytes()


def assert_error(response, status, text):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"]
    assert text in body["error"], body["error"]


# -- the page and the model list ----------------------------------------------------------------------
def test_page_and_static_files_work_offline(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<canvas id="pad"' in page.text and "http" not in page.text.split("<body")[0]   # no CDN
    for path, kind in (("/static/app.js", "text/javascript"), ("/static/style.css", "text/css")):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        assert "https://" not in r.text and "http://" not in r.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_models_lists_the_shipped_models(client):
    data = client.get("/api/models").json()
    names = [m["name"] for m in data["models"]]
    assert names == ["hidden", "cnn", "notes"] and data["default"] == "hidden"
    cnn = data["models"][1]
    assert cnn["kind"] == "cnn" and cnn["input_shape"] == [28, 28, 1]
    assert [layer["class_name"] for layer in cnn["layers"]][:2] == ["Conv2D", "MaxPooling2D"]
    assert all(m["test_accuracy"] > 0.85 for m in data["models"])


def test_shipped_models_are_small():
    total = sum(p.stat().st_size for p in inference.MODELS_DIR.glob("*.gnet"))
    assert total < 400 * 1024


# -- predictions -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["hidden", "cnn", "notes"])
def test_json_input_is_classified_with_activations(client, digits, model):
    x, y = digits
    right = 0
    for image, label in zip(x, y):
        r = client.post(f"/api/predict?model={model}", json=(image / 255).ravel().tolist())
        assert r.status_code == 200, r.text
        result = r.json()
        right += result["label"] == label
        assert result["model"] == model
        assert len(result["probabilities"]) == 10 and abs(sum(result["probabilities"]) - 1) < 1e-3
        assert result["probability"] == pytest.approx(max(result["probabilities"]), abs=1e-4)
        assert np.array(result["input"]).shape == (28, 28)
    assert right >= 17                                              # 20 real test digits
    shapes = [tuple(layer["shape"]) for layer in result["layers"]]
    assert shapes[-1] == (10,)
    if model == "cnn":
        assert shapes[:2] == [(26, 26, 8), (13, 13, 8)]
        assert np.array(result["layers"][0]["values"]).shape == (26, 26, 8)
    elif model == "hidden":
        assert shapes == [(64,), (10,)] and min(result["layers"][0]["values"]) >= 0     # ReLU


def test_the_input_is_used_as_is_and_matches_predict(client, served, digits):
    x, _ = digits
    flat = (x[3] / 255).astype(np.float32).reshape(1, 784)
    result = client.post("/api/predict?model=hidden", json={"input": flat[0].tolist()}).json()
    expected = served["hidden"].model.predict(flat, verbose=0)[0]
    np.testing.assert_allclose(result["scores"], expected, atol=1e-4)
    np.testing.assert_allclose(np.array(result["input"]).ravel(), flat[0], atol=1e-4)


def test_png_jpeg_form_and_picture_bodies(client, digits, tmp_path):
    x, y = digits
    scan = 1 - x[0] / 255                                         # dark ink on white paper
    png = png_bytes(scan, tmp_path)
    r = client.post("/api/predict?model=cnn", content=png, headers={"Content-Type": "image/png"})
    assert r.json()["label"] == y[0]
    r = client.post("/api/predict?model=cnn", files={"image": ("d.png", png, "image/png")})
    assert r.json()["label"] == y[0]
    big = np.kron(scan, np.ones((5, 5)))                          # 140 x 140, as the page sends it
    r = client.post("/api/predict?model=cnn", json={"image": np.round(255 * big).astype(int).tolist()})
    assert r.json()["label"] == y[0]
    image = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    image.fromarray(np.round(255 * big).astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    r = client.post("/api/predict?model=cnn", content=buffer.getvalue(),
                    headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200 and r.json()["label"] == y[0]


def test_inference_is_fast_for_the_mlp(served, digits):
    x, _ = digits
    model = served["hidden"]
    digit = (x[0] / 255).astype(np.float32)
    model.predict(digit)
    times = sorted(model.predict(digit)["inference_ms"] for _ in range(50))
    assert times[25] < 5


# -- bad requests: a 4xx and one line of JSON, never a crash -------------------------------------------
def test_body_cap_and_content_type(client):
    png = {"Content-Type": "image/png"}
    assert_error(client.post("/api/predict", content=b"\0" * (MAX_BODY + 1), headers=png), 413, "1 MB")
    def chunks():                                                  # no Content-Length: counted while reading
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"\0" * 65536
    assert_error(client.post("/api/predict", content=chunks(), headers=png), 413, "1 MB")
    assert_error(client.post("/api/predict", content=b"hello", headers={"Content-Type": "text/plain"}),
                 415, "not accepted")
    assert_error(client.post("/api/predict", content=b"[]"), 415, "missing")


@pytest.mark.parametrize("body, status, text", [
    (b"", 400, "not valid JSON"),
    (b"{not json", 400, "not valid JSON"),
    (b"[NaN]" , 400, "not valid JSON"),
    (b'"a string"', 422, "JSON array"),
    (b"[]", 422, "empty array"),
    (b"[1, 2, 3]", 422, "received an array of shape (3,)"),
    (json.dumps([0.5] * 785).encode(), 422, "785 values"),
    (json.dumps([[0.5] * 28] * 27 + [[0.5] * 27]).encode(), 422, "rows of equal length"),
    (json.dumps([255] * 784).encode(), 422, "divide 0-255 gray levels by 255"),
    (json.dumps(["x"] * 784).encode(), 422, "only numbers"),
    (b'{"input": [1e999]}', 422, "finite"),
    (b'{"image": [[0, 0], [0, 0]]}', 422, "blank"),
    (b'{"image": [1, 2, 3]}', 422, "2-D"),
    (b'{"image": [[0, 1]], "input": [1]}', 400, "received keys"),
    (b'{"picture": 1}', 400, "received keys"),
    (b"[" * 100000 + b"]" * 100000, 400, "not valid JSON"),
])
def test_bad_json(client, body, status, text):
    assert_error(client.post("/api/predict", content=body, headers={"Content-Type": "application/json"}),
                 status, text)


def test_bad_images(client, tmp_path):
    def post(data, kind="image/png"):
        return client.post("/api/predict", content=data, headers={"Content-Type": kind})

    assert_error(post(b""), 400, "empty")
    assert_error(post(b"GIF89a..."), 415, "neither a PNG nor a JPEG")
    png = png_bytes(np.zeros((30, 30)), tmp_path)
    assert_error(post(png), 422, "blank")
    good = png_bytes(np.eye(30), tmp_path)
    assert_error(post(good[:-20]), 422, "corrupt PNG")
    assert_error(post(b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg"), 422, "cannot be decoded")
    # a PNG header that claims 60000 x 60000 pixels: refused before any decompression
    header = b"IHDR" + (60000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    bomb = images.PNG_SIGNATURE + (13).to_bytes(4, "big") + header + zlib.crc32(header).to_bytes(4, "big")
    assert_error(post(bomb), 413, "60000 x 60000")
    assert_error(client.post("/api/predict", files={"other": ("d.png", good, "image/png")}), 400, "'image'")
    assert_error(client.post("/api/predict", content=b"--x\r\nbroken",
                             headers={"Content-Type": "multipart/form-data; boundary=x"}), 400, "")


def test_unknown_model_path_and_method(client):
    assert_error(client.post("/api/predict?model=../../etc/passwd", json=[0.0] * 784), 404, "no model named")
    assert_error(client.get("/api/nothing"), 404, "no such page")
    assert_error(client.get("/static/../app.py"), 404, "no such page")
    assert_error(client.get("/api/predict"), 405, "GET is not allowed")
    assert client.get("/api/models").status_code == 200                  # still serving


# -- the command -------------------------------------------------------------------------------------------
def test_serve_help_and_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    assert "--port" in capsys.readouterr().out
    assert cli.main(["serve", str(tmp_path / "missing.gnet")]) == 1
    assert "missing.gnet: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["serve", "--port", "70000"])
    assert "expected a port number" in capsys.readouterr().err


def test_serve_refuses_a_model_that_does_not_read_digits(tmp_path, capsys):
    import glassnet
    model = glassnet.Sequential([glassnet.layers.Dense(3, input_shape=(784,))])
    model.save(tmp_path / "three.gnet")
    assert cli.main(["serve", str(tmp_path / "three.gnet")]) == 1
    assert "has 3 outputs, expected 10" in capsys.readouterr().err


def test_import_glassnet_does_not_import_the_web_framework():
    code = ("import sys, glassnet, glassnet.cli; glassnet.cli.build_parser(); "
            "print('starlette' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_serve_without_the_web_extra_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)              # as if uvicorn were not installed
    assert cli.main(["serve"]) == 1
    assert 'install it with: pip install "glassnet[web]"' in capsys.readouterr().err


def test_serve_says_when_the_port_is_taken(capsys):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("0.0.0.0", False), ("192.168.1.5", False), ("example", False)])
def test_only_loopback_hosts_are_quiet(host, loopback):
    from glassnet.web import _is_loopback
    assert _is_loopback(host) is loopback


def test_a_users_model_is_served_first_beside_the_shipped_ones(tmp_path, digits):
    import glassnet
    model = glassnet.Sequential([glassnet.layers.Flatten(input_shape=(28, 28)),
                                 glassnet.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "hidden.gnet")                              # same name as a shipped model
    served = inference.load_models([tmp_path / "hidden.gnet"])
    assert list(served) == ["hidden-2", "hidden", "cnn", "notes"]
    with TestClient(create_app(served)) as c:
        assert c.get("/api/models").json()["default"] == "hidden-2"
        result = c.post("/api/predict", json=(digits[0][0] / 255).ravel().tolist()).json()
    assert result["model"] == "hidden-2" and [layer["shape"] for layer in result["layers"]] == [[784], [10]]
