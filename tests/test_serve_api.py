"""``blurmap serve`` against a real uvicorn on a free port: every endpoint, every error status.

The shipped models run on tiny images (tens of milliseconds each), so the whole file takes a
few seconds beyond loading the models once.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io as _stdio
import os
import re
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image as PILImage
from skimage import data

from _serve_server import RunningServer, shipped_models
from blurmap import api, weights_data
from blurmap.cli import main
from blurmap.errors import BlurmapError
from blurmap.io import encode_image, read_image_bytes
from blurmap.serve import ServeConfig, check_bind
from blurmap.serve.pool import InferencePool

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token-for-tests"


def _photo(h=40, w=56, y=100, x=150) -> np.ndarray:
    return (data.astronaut()[y : y + h, x : x + w] / 255.0).astype(np.float32)


def _png(array: np.ndarray, bits: int = 8) -> bytes:
    return encode_image(array, "png", bits=bits)


def _bomb_png() -> bytes:
    """A valid 8x8 PNG whose IHDR claims 50000x50000 px, with a correct CRC."""
    png = _png(np.zeros((8, 8, 3), np.float32))
    ihdr = bytearray(png[12:29])
    ihdr[4:12] = struct.pack(">II", 50000, 50000)
    return png[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(bytes(ihdr))) + png[33:]


def _decoded(body: bytes, name: str = "reply.png"):
    return read_image_bytes(body, name)


def _error(r: httpx.Response) -> str:
    """The JSON error of a reply, checked to be one line and nothing else."""
    assert r.headers["content-type"].startswith("application/json"), r.text
    body = r.json()
    assert list(body) == ["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


@pytest.fixture(scope="module")
def server():
    config = ServeConfig(max_upload_mb=1, max_pixels=2_000_000, workers=1, queue=2, timeout=60)
    with RunningServer(config) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


# ------------------------------------------------------------------------ plain endpoints


def test_healthz_and_security_headers(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": "http://evil.test"}).headers


def test_page_and_its_assets_are_served_offline(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert sorted(assets) == ["/static/app.js", "/static/favicon.svg", "/static/style.css"]
    for text in [page.text] + [client.get(a).text for a in assets]:
        # Nothing from another host: no CDN, no web font, no remote script (an SVG's XML
        # namespace is a name, not a download).
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), text[:200]
    assert all(client.get(a).status_code == 200 for a in assets)
    assert 'name="viewport"' in page.text  # phone-sized screens


def test_models_lists_names_tasks_parameters_and_cards(client):
    r = client.get("/v1/models")
    assert r.status_code == 200
    models = {m["name"]: m for m in r.json()["models"]}
    assert list(models) == ["defocus", "local", "defocus-map"]
    for entry in weights_data.SHIPPED:
        m = models[entry.alias]
        described = weights_data.describe(entry.path)
        assert m["network"] == entry.model and m["task"] == entry.task
        assert m["parameters"] == described["parameters"] and m["card"]["sha256"] == described["sha256"]
        assert (ROOT / m["card"]["document"]).is_file()
    assert models["local"]["endpoints"] == ["/v1/deblur", "/v1/blur-mask"] and models["local"]["gate"] is True
    assert models["defocus"]["endpoints"] == ["/v1/deblur"] and models["defocus"]["gate"] is False
    assert models["defocus-map"]["endpoints"] == ["/v1/defocus-map"] and models["defocus-map"]["map"] == "coc"
    assert r.json()["limits"] == {"max_upload_mb": 1, "max_pixels": 2_000_000, "workers": 1, "queue": 2, "timeout_s": 60}


# ----------------------------------------------------------------------------- /v1/deblur


@pytest.mark.parametrize("model", ["local", "defocus"])
def test_deblur_returns_the_models_output_as_png(client, model):
    photo = _photo()
    r = client.post("/v1/deblur", files={"file": ("astro.png", _png(photo))}, data={"model": model})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-blurmap-model"] == model
    assert r.headers["x-blurmap-network"] == {"local": "bladenet", "defocus": "defocusgan"}[model]
    assert float(r.headers["x-blurmap-seconds"]) > 0 and "run;dur=" in r.headers["server-timing"]
    assert 'filename="astro_deblurred.png"' in r.headers["content-disposition"]
    got = _decoded(r.content)
    assert got.bits == 8 and got.array.shape == photo.shape
    # The same as the Python API on the same pixels (8-bit round trip of the input).
    reference = shipped_models()[model].deblurrer.deblur(read_image_bytes(_png(photo)).array)
    assert np.abs(got.array - reference).max() <= 1 / 255 + 1e-6


def test_deblur_keeps_bit_depth_grey_and_orientation(client):
    grey16 = _photo()[..., 1]
    r = client.post("/v1/deblur", files={"file": ("g16.png", _png(grey16, bits=16))}, data={"model": "local"})
    assert r.status_code == 200 and r.headers["x-blurmap-bits"] == "16"
    with PILImage.open(_stdio.BytesIO(r.content)) as im:
        assert im.mode.startswith("I") and im.size == (56, 40)  # one 16-bit channel, same size
    # A JPEG stored sideways (EXIF orientation 6) comes back upright.
    buf = _stdio.BytesIO()
    exif = PILImage.Exif()
    exif[0x0112] = 6
    PILImage.fromarray((_photo(24, 40) * 255).astype(np.uint8)).save(buf, format="JPEG", exif=exif.tobytes())
    r = client.post("/v1/deblur", files={"file": ("rot.jpg", buf.getvalue())}, data={"model": "local"})
    assert r.status_code == 200 and _decoded(r.content).array.shape == (40, 24, 3)


def test_deblur_gate_and_precision(client):
    photo = _photo()
    r = client.post("/v1/deblur", files={"file": ("a.png", _png(photo))}, data={"model": "local", "gate": "true"})
    assert r.status_code == 200 and r.headers["x-blurmap-gate"] == "on"
    gated = shipped_models()["local"].deblurrer.predict(read_image_bytes(_png(photo)).array, gate=True)["image"]
    assert np.abs(_decoded(r.content).array - gated).max() <= 1 / 255 + 1e-6
    r = client.post("/v1/deblur", files={"file": ("a.png", _png(photo))}, data={"model": "defocus", "gate": "true"})
    assert r.status_code == 400 and "gate needs a model with a blur mask" in _error(r)
    r = client.post("/v1/deblur", files={"file": ("a.png", _png(photo))}, data={"model": "local", "precision": "bf16"})
    assert r.status_code == 200 and _decoded(r.content).array.shape == photo.shape
    r = client.post("/v1/deblur", files={"file": ("a.png", _png(photo))}, data={"model": "local", "precision": "fp16"})
    assert r.status_code == 400 and "fp16 needs a CUDA device" in _error(r)


def test_deblur_json_for_the_page(client):
    photo = _photo()
    r = client.post("/v1/deblur", files={"file": ("a.png", _png(photo, bits=16))},
                    data={"model": "local", "format": "json"})
    assert r.status_code == 200
    body = r.json()
    assert (body["model"], body["width"], body["height"], body["bits"], body["gate"]) == ("local", 56, 40, 16, False)
    pngs = {k: base64.b64decode(body[k].split(",", 1)[1]) for k in ("input", "image", "map")}
    assert _decoded(pngs["input"]).bits == 8 and _decoded(pngs["image"]).bits == 16
    assert all(_decoded(p).array.shape == photo.shape for p in pngs.values())
    bar = body["colorbar"]
    assert (bar["kind"], bar["min"], bar["max"], len(bar["colors"])) == ("mask", 0.0, 1.0, 11)
    # The bar's ends are the colours the map uses for 0 and 1.
    ends = api.colorize_map(np.array([[0.0, 1.0]], np.float32), "mask")[0]
    assert bar["colors"][0] == "#%02x%02x%02x" % tuple(int(round(c * 255)) for c in ends[0])
    r = client.post("/v1/deblur", files={"file": ("a.png", _png(photo))}, data={"model": "defocus", "format": "json"})
    assert r.status_code == 200 and r.json()["map"] is None and r.json()["colorbar"] is None


# --------------------------------------------------------------- blur mask and defocus map


def test_blur_mask_png_and_bits(client):
    photo = _photo()
    r = client.post("/v1/blur-mask", files={"file": ("a.png", _png(photo))})
    assert r.status_code == 200 and r.headers["x-blurmap-model"] == "local"
    with PILImage.open(_stdio.BytesIO(r.content)) as im:
        assert im.mode == "L" and im.size == (56, 40)
        mask = np.asarray(im, np.float32) / 255
    reference = api.blur_mask(read_image_bytes(_png(photo)).array, weights=shipped_models()["local"].deblurrer)
    assert np.abs(mask - reference).max() <= 1 / 255 + 1e-6
    r = client.post("/v1/blur-mask", files={"file": ("a.png", _png(photo))}, data={"bits": "16", "format": "png"})
    assert r.status_code == 200 and _decoded(r.content).bits == 16
    r = client.post("/v1/blur-mask", files={"file": ("a.png", _png(photo))}, data={"bits": "12"})
    assert r.status_code == 422 and "bits" in _error(r)
    r = client.post("/v1/blur-mask", files={"file": ("a.png", _png(photo))}, data={"model": "defocus"})
    assert r.status_code == 400 and "predicts no blur mask" in _error(r)
    r = client.post("/v1/blur-mask", files={"file": ("a.png", _png(photo))}, data={"format": "json"})
    assert r.status_code == 200 and r.json()["colorbar"]["kind"] == "mask"


def test_defocus_map_npy_png_json(client):
    left, right = _photo(), _photo(x=152)
    files = {"left": ("l.png", _png(left, 16)), "right": ("r.png", _png(right, 16))}
    r = client.post("/v1/defocus-map", files=files)
    assert r.status_code == 200 and 'filename="l_defocus.npy"' in r.headers["content-disposition"]
    coc = np.load(_stdio.BytesIO(r.content), allow_pickle=False)
    reference = api.estimate_defocus_map(read_image_bytes(_png(left, 16)).array, read_image_bytes(_png(right, 16)).array,
                                         weights="defocus-map")
    assert coc.dtype == np.float32 and coc.shape == (40, 56)
    assert np.allclose(coc, reference, atol=1e-5)
    limit = max(1.0, float(np.abs(coc).max()))
    r = client.post("/v1/defocus-map", files=files, data={"format": "png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    lo, hi = map(float, r.headers["x-blurmap-map-range"].split(","))
    assert lo == pytest.approx(-limit, rel=1e-3) and hi == pytest.approx(limit, rel=1e-3)
    r = client.post("/v1/defocus-map", files=files, data={"format": "json"})
    assert r.status_code == 200 and r.json()["colorbar"]["kind"] == "coc"
    assert r.json()["coc_min"] == pytest.approx(float(coc.min()), abs=1e-5)


def test_defocus_map_refusals(client):
    left = _png(_photo())
    r = client.post("/v1/defocus-map", files={"left": ("l.png", left), "right": ("r.png", _png(_photo(30, 56)))})
    assert r.status_code == 400 and _error(r) == "r.png: right view is 56x30 px but the left view l.png is 56x40"
    r = client.post("/v1/defocus-map", files={"left": ("l.png", left)})
    assert r.status_code == 422 and _error(r) == "missing form field 'right'"
    r = client.post("/v1/defocus-map", files={"left": ("l.png", left), "right": ("r.png", left)}, data={"model": "local"})
    assert r.status_code == 400 and "not a defocus-map model" in _error(r)
    r = client.post("/v1/defocus-map", files={"left": ("l.png", left), "right": ("r.png", left)}, data={"format": "tif"})
    assert r.status_code == 422 and "format" in _error(r)


# ------------------------------------------------------------------------------- errors

BAD_UPLOADS = {
    "empty.png": (b"", "empty.png: empty file (0 bytes)"),
    "truncated.png": (lambda: _png(_photo(64, 96))[:300], "truncated.png: truncated or corrupt"),
    "notes.png": (b"this is not an image\n", "notes.png: not an image (unrecognised file format)"),
    "bomb.png": (_bomb_png, "bomb.png: refusing to decode 50000x50000"),
    "random.bin": (lambda: np.random.default_rng(5).bytes(3000), "random.bin: not an image"),
    "tiny.png": (lambda: _png(np.full((2, 2, 3), 0.5, np.float32)), "image is 2x2 px; deblurring needs at least 8x8"),
}


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_bad_uploads_are_400_with_the_clis_message(client, name):
    content, expected = BAD_UPLOADS[name]
    content = content() if callable(content) else content
    r = client.post("/v1/deblur", files={"file": (name, content)}, data={"model": "local"})
    assert r.status_code == 400
    assert _error(r).startswith(expected) or expected in _error(r), _error(r)


def test_client_file_names_never_reach_the_filesystem(client, tmp_path):
    evil = "../../" + str(tmp_path / "pwned.png")
    r = client.post("/v1/deblur", files={"file": (evil, b"not an image")}, data={"model": "local"})
    assert r.status_code == 400 and _error(r) == "pwned.png: not an image (unrecognised file format)"
    assert not (tmp_path / "pwned.png").exists()


def test_missing_fields_unknown_model_and_bad_bodies(client):
    photo = _png(_photo())
    r = client.post("/v1/deblur", data={"model": "local"})
    assert r.status_code == 422 and _error(r) == "missing form field 'file'"
    r = client.post("/v1/deblur", files={"file": ("a.png", photo)})
    assert r.status_code == 422 and _error(r) == "missing form field 'model'"
    r = client.post("/v1/deblur", data={"model": "local", "file": "a text field, not a file"})
    assert r.status_code == 422 and _error(r) == "form field 'file' must be a file upload"
    r = client.post("/v1/deblur", files={"file": ("a.png", photo)}, data={"model": "local", "gate": "maybe"})
    assert r.status_code == 422 and _error(r) == "form field 'gate' must be true or false"
    r = client.post("/v1/deblur", files={"file": ("a.png", photo)}, data={"model": "sharpen-9000"})
    assert r.status_code == 404 and _error(r) == "unknown model 'sharpen-9000'; this server has defocus, local, defocus-map"
    r = client.post("/v1/deblur", files={"file": ("a.png", photo)}, data={"model": "defocus-map"})
    assert r.status_code == 400 and "use /v1/defocus-map" in _error(r)
    r = client.post("/v1/deblur", content=b"garbage", headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 400 and _error(r)
    r = client.post("/v1/deblur", json={"file": "x", "model": "local"})
    assert r.status_code == 422 and "missing form field" in _error(r)
    assert client.get("/v1/nothing").status_code == 404 and _error(client.get("/v1/nothing"))
    r = client.get("/v1/deblur")
    assert r.status_code == 405 and _error(r)


def test_upload_over_the_limit_is_413(client, server):
    big = np.random.default_rng(0).bytes(1_300_000)  # the server allows 1 MB
    r = client.post("/v1/deblur", files={"file": ("big.png", big)}, data={"model": "local"})
    assert r.status_code == 413 and _error(r) == "upload over the limit of 1 MB (--max-upload-mb)"

    def chunked():  # no Content-Length: stopped while it streams in
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'
        for _ in range(30):
            yield bytes(100_000)
        yield b"\r\n--b--\r\n"

    r = client.post("/v1/deblur", content=chunked(), headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and "over the limit" in _error(r)
    assert client.get("/healthz").status_code == 200


def test_burst_of_12_gets_200_or_503_and_the_server_lives(client, server):
    """workers=1, queue=2: a burst of 12 overflows the queue; no request is lost or half-answered."""
    image = _png(_photo(160, 160, y=50, x=150))

    def post(_):
        with httpx.Client(base_url=server.url, timeout=120) as c:
            return c.post("/v1/deblur", files={"file": ("a.png", image)}, data={"model": "local"})

    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        replies = list(ex.map(post, range(12)))
    statuses = sorted(r.status_code for r in replies)
    assert set(statuses) <= {200, 429, 503}, statuses
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    for r in replies:
        if r.status_code == 503:
            assert int(r.headers["retry-after"]) >= 1 and "server busy" in _error(r)
        else:
            assert _decoded(r.content).array.shape == (160, 160, 3)
    assert client.get("/healthz").status_code == 200
    assert server.app.state.pool.in_flight == 0
    assert client.post("/v1/deblur", files={"file": ("a.png", image)}, data={"model": "local"}).status_code == 200


def test_a_bug_is_a_500_without_traceback(client, server, monkeypatch):
    from blurmap.serve import jobs

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, with a secret /home/path in it")

    monkeypatch.setattr(jobs, "blur_mask_job", broken)
    r = client.post("/v1/blur-mask", files={"file": ("a.png", _png(_photo()))})
    assert r.status_code == 500 and _error(r) == "internal error (details are in the server log)"


# --------------------------------------------------------------- token, CORS and timeout


def test_token_guards_every_v1_route_and_cors_is_opt_in():
    config = ServeConfig(max_upload_mb=1, token=TOKEN, cors_origins=("http://app.example",))
    with RunningServer(config) as s, httpx.Client(base_url=s.url, timeout=60) as c:
        for path in ("/v1/models",):
            r = c.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert "needs a token" in _error(r)
            r = c.get(path, headers={"Authorization": "Bearer wrong-token-123"})
            assert r.status_code == 401 and _error(r) == "wrong bearer token"
            assert c.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        # Refused before the body is read: an over-limit upload without a token is 401, not 413.
        r = c.post("/v1/deblur", files={"file": ("a.png", bytes(1_500_000))}, data={"model": "local"})
        assert r.status_code == 401
        r = c.post("/v1/deblur", files={"file": ("a.png", _png(_photo()))}, data={"model": "local"},
                   headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/").status_code == 200
        # The origin that was asked for gets CORS headers; another does not.
        pre = c.options("/v1/deblur", headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST",
                                               "Access-Control-Request-Headers": "authorization"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "http://app.example"
        other = c.get("/healthz", headers={"Origin": "http://evil.test"})
        assert "access-control-allow-origin" not in other.headers


def test_request_timeout_is_504_and_the_worker_comes_back():
    config = ServeConfig(timeout=0.05, workers=1, queue=1)
    with RunningServer(config) as s, httpx.Client(base_url=s.url, timeout=60) as c:
        big = _png(_photo(400, 300, y=0, x=0))
        r = c.post("/v1/deblur", files={"file": ("a.png", big)}, data={"model": "defocus"})
        assert r.status_code == 504 and "longer than the server's 0.05 s limit" in _error(r)
        assert c.get("/healthz").status_code == 200
        deadline = time.monotonic() + 60
        while s.app.state.pool.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        assert s.app.state.pool.in_flight == 0


def test_pool_never_starts_a_job_that_timed_out_in_the_queue():
    import asyncio
    import threading

    started = []
    gate = threading.Event()

    def slow(job, name):
        started.append(name)
        gate.wait(5)
        return name

    async def scenario():
        pool = InferencePool(workers=1, queue=1, timeout=0.2)
        first = asyncio.ensure_future(pool.run(slow, "first"))
        await asyncio.sleep(0.02)
        second = asyncio.ensure_future(pool.run(slow, "second"))
        await asyncio.sleep(0.02)
        with pytest.raises(Exception) as third:
            await pool.run(slow, "third")  # one running + one queued: full
        results = await asyncio.gather(first, second, return_exceptions=True)
        gate.set()
        pool.shutdown()
        return third.value, results, pool

    third, results, pool = asyncio.run(scenario())
    assert third.status_code == 503 and third.headers["Retry-After"]
    assert [getattr(r, "status_code", None) for r in results] == [504, 504]
    time.sleep(0.1)
    assert started == ["first"] and pool.in_flight == 0


# ------------------------------------------------------------------- the command and bind


def test_bind_rule():
    assert check_bind("127.0.0.1", token=None, insecure=False) is None
    assert check_bind("::1", token=None, insecure=False) is None
    assert check_bind("localhost", token=None, insecure=False) is None
    assert check_bind("0.0.0.0", token=TOKEN, insecure=False) is None
    assert "without a token" in check_bind("0.0.0.0", token=None, insecure=True)
    with pytest.raises(BlurmapError, match="refusing to listen on 0.0.0.0"):
        check_bind("0.0.0.0", token=None, insecure=False)
    with pytest.raises(BlurmapError, match="refusing to listen on 192.168.1.20"):
        check_bind("192.168.1.20", token=None, insecure=False)


def test_serve_command_refuses_in_one_line(capsys):
    assert main(["serve", "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("blurmap: error: refusing to listen on 0.0.0.0")
    assert main(["serve", "--models", "local,sharpen-9000"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--models sharpen-9000: unknown weights 'sharpen-9000'" in err[0]
    assert main(["serve", "--queue", "-1", "--models", "local"]) == 1
    assert "--queue must be 0 or more" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        assert main(["serve", "--models", "local", "--port", str(busy.getsockname()[1])]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "cannot listen on 127.0.0.1:" in err[0]


def test_serve_command_end_to_end_with_a_token():
    """``blurmap serve`` as users start it: a process, port 0, a token from the environment."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "BLURMAP_SERVE_TOKEN": TOKEN, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "blurmap", "serve", "--port", "0", "--models", "local",
                             "--log-level", "warning"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        match = re.match(r"blurmap serve: (http://127\.0\.0\.1:\d+/) \(models: local\)", line)
        assert match, line
        url = match.group(1)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert httpx.get(url + "v1/models").status_code == 401
        r = httpx.get(url + "v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
        assert [m["name"] for m in r.json()["models"]] == ["local"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode in (0, -15)
