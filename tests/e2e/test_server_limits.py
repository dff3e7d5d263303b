"""The service's limits, each shown by a refusal: request bodies bounded while they stream,
JSON nesting, response sizes in the client, and the per-client share of the proving queue.

The server runs in this process (uvicorn in a thread, on a free loopback port) with small
limits, and with its process pool replaced by `HeldPool`, whose jobs stay queued until the
test settles them: the queue's occupancy is then exact and nothing is proven, so these tests
take seconds. (tests/e2e/test_server.py runs the real `snarkgpt serve` with real workers.)
"""
import concurrent.futures as cf
import http.client
import json
import re
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")

from snarkgpt import client  # noqa: E402
from snarkgpt.cli import main  # noqa: E402
from snarkgpt.server import (MAX_JSON_DEPTH, RequestError, Service, check_json_depth,  # noqa: E402
                             client_key, create_app, declared_length)

CONFIG = "n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1"
BODY_LIMIT = 4096           # the in-process server's request body limit (default 64 KiB)


# ------------------------------------------------------------------------------ the server

class HeldPool:
    """Stands in for the process pool: every job stays queued until the test settles it."""

    def __init__(self):
        self.futures = []

    def submit(self, fn, *args):
        fut = cf.Future()
        self.futures.append(fut)
        return fut

    def settle(self, n=None):
        """Finish the oldest `n` pending jobs (all when None), as failures: their slots free."""
        pending = [f for f in self.futures if not f.done()]
        for f in pending[:n]:
            f.set_exception(RuntimeError("settled by the test"))

    def shutdown(self, wait=True, cancel_futures=False):
        for f in self.futures:
            f.cancel()


class InProcessServer:
    """create_app(Service(...)) served by uvicorn in a thread, its pool a `HeldPool`."""

    def __init__(self, keydir, **settings):
        self.service = Service(keydir, **settings)
        self.pool = self.service.executor = HeldPool()      # start() keeps it: no workers
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(self.service), host="127.0.0.1", port=self.port,
                                log_level="error", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)

    def health(self):
        status, _, h = request(self.port, "GET", "/health")
        assert status == 200, h
        return h

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)


def request(port, method, path, body=None, source="127.0.0.1", headers=()):
    """(status, headers, parsed JSON) over a fresh connection from the loopback address
    `source` (any 127.x.y.z: each one is another client to the server)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=dict(headers))
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), json.loads(resp.read())
    finally:
        conn.close()


def generate(port, tokens, source="127.0.0.1"):
    body = json.dumps({"prompt_tokens": tokens, "max_new_tokens": 1}).encode()
    return request(port, "POST", "/generate", body, source,
                   headers={"Content-Type": "application/json"})


def raw_exchange(port, head: bytes, chunk=b"", total=0):
    """Send `head` (request line and headers), then `chunk` repeatedly as chunked body data
    until `total` bytes have gone out or the server answers or closes first. Returns (bytes
    of body sent, status, headers, parsed JSON answer, whether the server closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sent = 0
    try:
        sock.sendall(head)
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(framed)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass                            # the server closed the connection
        data, closed = b"", False
        try:
            while True:
                part = sock.recv(65536)
                if not part:
                    closed = True
                    break
                data += part
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
    finally:
        sock.close()
    head_part, _, body = data.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    try:
        payload = json.loads(body)
    except ValueError:
        payload = body.decode(errors="replace")
    return sent, status, headers, payload, closed


def post_head(*headers: str) -> bytes:
    return ("POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "".join(h + "\r\n" for h in headers) + "\r\n").encode()


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def keydir(tmp_path_factory):
    out = tmp_path_factory.mktemp("limits") / "keys"
    assert main(["setup", "--model", f"random:{CONFIG}", "--out", str(out), "--json"]) == 0
    return out


@pytest.fixture
def server(keydir):
    """Capacity 1 + 7 = 8 jobs, 2 per client (the default, a quarter), 4 KiB bodies."""
    srv = InProcessServer(keydir, workers=1, queue=7, max_body=BODY_LIMIT)
    yield srv
    srv.stop()


# ------------------------------------------------------------------------------ request bodies

def test_chunked_body_over_the_limit_is_refused_while_it_streams(server):
    """No Content-Length: the server counts the chunks as they arrive and refuses the body
    (413, connection closed) once more than the limit has come in; the client, still sending
    a 256 MiB body, is cut off after a few socket buffers' worth."""
    total = 256 << 20
    sent, status, headers, payload, closed = raw_exchange(
        server.port, post_head("Transfer-Encoding: chunked"), b"1" * (16 << 10), total)
    assert status == 413, payload
    assert f"exceeds the limit of {BODY_LIMIT} bytes" in payload["error"]
    refused_after = int(re.search(r"refused after (\d+) bytes", payload["error"]).group(1))
    # what crossed the limit arrived as one piece: at most uvicorn's buffer (it pauses reading
    # beyond 64 KiB) plus one socket read (256 KiB)
    assert BODY_LIMIT < refused_after <= BODY_LIMIT + (320 << 10)
    assert headers["connection"] == "close" and closed
    assert sent < total // 4
    h = server.health()
    assert h["bad_requests"] == 1 and h["outstanding"] == 0


def test_content_length_over_the_limit_is_refused_before_the_body(server):
    # nothing of the (announced) terabyte is sent: the 413 comes from the headers alone
    sent, status, headers, payload, closed = raw_exchange(
        server.port, post_head(f"Content-Length: {10 ** 12}"))
    assert status == 413, payload
    assert f"{10 ** 12} bytes exceeds the limit of {BODY_LIMIT}" in payload["error"]
    assert headers["connection"] == "close" and closed
    # just over the limit, sent in full: refused the same way
    status, _, payload = request(server.port, "POST", "/generate", b" " * (BODY_LIMIT + 1))
    assert status == 413 and "exceeds the limit" in payload["error"]
    server.health()


def test_malformed_content_length_gets_400(server):
    sent, status, headers, payload, closed = raw_exchange(server.port,
                                                          post_head("Content-Length: 12abc"))
    assert status == 400 and closed     # refused by the HTTP parser before the app sees it
    server.health()


@pytest.mark.parametrize("value", ["12abc", "-1", "1e3", "0x10", "\u00b2", "", "1 2"])
def test_declared_length_refuses_what_is_not_a_decimal_number(value):
    """The app's own check (behind any HTTP parser): 400 naming the header, never a 500."""
    with pytest.raises(RequestError) as e:
        declared_length({"content-length": value}, BODY_LIMIT)
    assert e.value.status == 400 and "malformed Content-Length" in e.value.message
    assert e.value.headers == {"Connection": "close"}


def test_declared_length_bounds():
    assert declared_length({}, BODY_LIMIT) is None
    assert declared_length({"content-length": str(BODY_LIMIT)}, BODY_LIMIT) == BODY_LIMIT
    with pytest.raises(RequestError) as e:
        declared_length({"content-length": str(BODY_LIMIT + 1)}, BODY_LIMIT)
    assert e.value.status == 413 and f"limit of {BODY_LIMIT} bytes" in e.value.message


# ------------------------------------------------------------------------------ JSON nesting

@pytest.mark.parametrize("body", [
    b"[" * 2000 + b"]" * 2000,
    b'{"a":' * 600 + b"1" + b"}" * 600,
    b'{"prompt_tokens": ' + b"[" * (MAX_JSON_DEPTH + 1) + b"1" + b"]" * (MAX_JSON_DEPTH + 1)
    + b', "max_new_tokens": 1}',
    b"[" * 4000,                                          # unterminated as well
], ids=["arrays", "objects", "inside-a-field", "unterminated"])
def test_deeply_nested_json_gets_400_not_500(server, body):
    status, _, payload = request(server.port, "POST", "/generate", body)
    assert status == 400, payload
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in payload["error"]
    assert server.health()["bad_requests"] == 1


def test_nesting_scan_skips_strings_and_allows_the_limit():
    check_json_depth("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)          # exactly the limit
    check_json_depth(json.dumps({"x": "[{" * 1000, "y": ['\\"[[[' * 100]}))  # text, not nesting
    with pytest.raises(RequestError) as e:
        check_json_depth(json.dumps({"x": "\\\"]]]"}) + "[" * (MAX_JSON_DEPTH + 1))
    assert e.value.status == 400
    with pytest.raises(RequestError):
        check_json_depth("[" * 3, max_depth=2)
    check_json_depth('["a\\', max_depth=1)         # unterminated: the parser stops there


@pytest.mark.parametrize("text", ['\\"' * 32768, '"\\' * 32768, '"' * 65536, "\\" * 65536,
                                  '"' + '\\"' * 32767])
def test_nesting_scan_is_linear_whatever_the_quotes(text):
    """64 KiB of quotes and backslashes (the body limit's worth) is scanned in milliseconds;
    a scan that looked for each string's closing quote took seconds (quadratic)."""
    t = time.perf_counter()
    check_json_depth(text)
    assert time.perf_counter() - t < 0.5


def test_flat_requests_still_accepted(server):
    status, _, payload = generate(server.port, [1, 2])
    assert status == 202 and payload["status"] == "queued"


# ------------------------------------------------------------------------------ per-client share

def test_one_client_cannot_fill_the_queue(server):
    """Capacity 8, 2 per client: the third job of one client is refused (429, Retry-After,
    'per-client limit') while the queue has room; other clients still get in; a finished job
    frees the client's slot; identical requests still share a job; and the global limit
    (queue full) still holds."""
    assert server.health()["per_client"] == 2
    assert [generate(server.port, [t])[0] for t in (1, 2)] == [202, 202]
    status, headers, payload = generate(server.port, [3])
    assert status == 429 and "per-client limit" in payload["error"], payload
    assert "2 of 8" in payload["error"] and int(headers["retry-after"]) >= 1
    h = server.health()
    assert h["outstanding"] == 2 < h["capacity"] == 8 and h["client_limited"] == 1
    assert h["bad_requests"] == 0                  # a 429 is not a bad request
    # the same statement as a job in flight joins it: no new job, no refusal
    status, _, payload = generate(server.port, [1])
    assert status == 202 and server.health()["coalesced"] == 1
    # another client (another loopback address) is served
    assert generate(server.port, [3], source="127.0.0.2")[0] == 202
    # once one of its jobs has finished, the first client may submit again
    server.pool.settle(1)
    assert generate(server.port, [4])[0] == 202
    assert generate(server.port, [5])[0] == 429
    # the global limit: fill the queue from more clients; then even a new client waits
    for i, t in enumerate((5, 6, 7, 0, 0)):
        status, _, payload = generate(server.port, [t, i % 8], source=f"127.0.0.{3 + i}")
        assert status == 202, payload
    h = server.health()
    assert h["outstanding"] == h["capacity"] == 8
    status, headers, payload = generate(server.port, [7, 7], source="127.0.0.99")
    assert status == 429 and "queue is full" in payload["error"]
    assert int(headers["retry-after"]) >= 1
    # everything settles: every slot is free again, for everyone
    server.pool.settle()
    h = server.health()
    assert h["outstanding"] == 0 and h["clients"] == 0 and h["busy"] == 1
    assert generate(server.port, [3])[0] == 202


def test_per_client_setting(keydir):
    assert Service(keydir, workers=1, queue=0).per_client == 1
    assert Service(keydir, workers=2, queue=8).per_client == 2
    assert Service(keydir, workers=1, queue=8, per_client=9).per_client == 9
    with pytest.raises(ValueError, match="per-client"):
        Service(keydir, per_client=0)


def test_client_key_groups_an_ipv6_64():
    assert client_key("203.0.113.7") == "203.0.113.7"
    assert client_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_key(None) == "unknown"


# ------------------------------------------------------------------------------ client responses

class Flood(BaseHTTPRequestHandler):
    """Answers every request with an endless body (no Content-Length: it ends when the client
    hangs up), with status 500 at /error, and at /declared with a Content-Length of a
    terabyte. Counts what it wrote."""
    protocol_version = "HTTP/1.0"
    written = 0

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(500 if self.path == "/error" else 200)
        self.send_header("Content-Type", "application/json")
        if self.path == "/declared":
            self.send_header("Content-Length", str(10 ** 12))
        self.end_headers()
        block = b" " * (64 << 10)
        try:
            while Flood.written < 1 << 30:
                self.wfile.write(block)
                Flood.written += len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_POST = do_GET


@pytest.fixture
def flood():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Flood)
    Flood.written = 0
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_client_refuses_an_oversized_response(flood, monkeypatch):
    limit = 1 << 20
    with pytest.raises(client.ClientError, match=f"larger than the client's limit of {limit} "):
        client._request(flood + "/jobs/x", limit=limit)
    with pytest.raises(client.ClientError, match=f"limit of {limit} bytes"):
        client._request(flood + "/error", limit=limit)       # error answers are bounded too
    # every exchange has a limit: the model card and the key, with the module's limits made small
    monkeypatch.setattr(client, "MAX_CARD_RESPONSE", limit)
    with pytest.raises(client.ClientError, match=r"/model: .*limit of 1048576 bytes"):
        client.fetch_model(flood)
    monkeypatch.setattr(client, "MAX_JSON_RESPONSE", limit)
    with pytest.raises(client.ClientError, match="limit of 1048576 bytes"):
        client.submit(flood, [1], 1, timeout=5)
    assert Flood.written < 64 << 20         # the client stopped reading; nothing near 1 GiB


def test_client_refuses_an_announced_oversized_response_without_reading_it(flood):
    with pytest.raises(client.ClientError, match=f"announces {10 ** 12} bytes"):
        client._request(flood + "/declared", limit=1 << 20)


def test_limits_fit_the_real_responses():
    """The key limit holds a verifying key far larger than today's (tens of KB); the card
    limit holds that key in base64 as well; results (base64 proofs of 15-200 KB) fit easily."""
    assert client.MAX_VK_RESPONSE >= 64 << 20
    assert client.MAX_CARD_RESPONSE > client.MAX_VK_RESPONSE * 4 // 3
    assert 1 << 20 <= client.MAX_JSON_RESPONSE <= client.MAX_CARD_RESPONSE
