"""Bad input and hostile clients: each gets the right status or is dropped, and the server
keeps serving everyone else. Also authentication, CORS, the bounded queue and SIGTERM."""
import json
import re
import signal
import socket
import threading
import time

import httpx
import openai
import pytest


def post(srv, path, body, **kw):
    return httpx.post(srv.url + path, content=body, headers={"Content-Type": "application/json"}, **kw)


def still_serving(srv):
    r = httpx.post(srv.url + "/v1/completions", json={"prompt": "Once", "max_tokens": 4, "temperature": 0})
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 4


def openai_error(r, status, param=None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    if param:
        assert err["param"] == param
    return err


def test_malformed_json(server):
    openai_error(post(server, "/v1/chat/completions", b'{"messages": [}'), 400)
    openai_error(post(server, "/v1/chat/completions", b'[1, 2]'), 400)
    openai_error(post(server, "/v1/chat/completions", b''), 400)
    r = post(server, "/api/chat", b'{"model": ')
    assert r.status_code == 400 and isinstance(r.json()["error"], str)
    still_serving(server)


@pytest.mark.parametrize("field,value", [
    ("temperature", "hot"), ("temperature", 7), ("max_tokens", -1), ("max_tokens", "10"), ("top_p", [1]),
    ("seed", 1.5), ("stop", 3), ("stop", ["a", 1]), ("stream", "yes"), ("n", 2), ("model", 5),
    ("messages", "hi"), ("messages", []), ("messages", [{"content": "no role"}]),
    ("messages", [{"role": "user", "content": {"x": 1}}]), ("messages", [{"role": "wizard", "content": "x"}]),
])
def test_wrong_types(server, field, value):
    body = {"model": "stories260K", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, field: value}
    err = openai_error(post(server, "/v1/chat/completions", json.dumps(body).encode()), 400)
    assert err["param"] == field


def test_invalid_utf8(server):
    body = b'{"prompt": "Once \xff\xfe upon", "max_tokens": 4}'
    openai_error(post(server, "/v1/completions", body), 400)
    openai_error(post(server, "/v1/completions", b'{"prompt": "\\ud800", "max_tokens": 4}'), 400)
    openai_error(post(server, "/v1/completions", b'{"prompt": "a\\u0000b", "max_tokens": 4}'), 400)
    still_serving(server)


def raw_request(port, data, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    return out


def test_huge_body_declared(server):
    out = raw_request(server.port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 100000000\r\n\r\n{\"prompt\":")
    assert out.startswith(b"HTTP/1.1 413"), out[:200]
    still_serving(server)


def test_huge_body_chunked(start_server):
    srv = start_server("--max-body", "1000")
    body = json.dumps({"prompt": "x" * 5000, "max_tokens": 1}).encode()
    r = httpx.post(srv.url + "/v1/completions", content=iter([body[:2000], body[2000:]]))   # chunked upload
    openai_error(r, 413)
    still_serving(srv)


def test_unknown_model_path_method(server):
    c = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError) as e:
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["code"] == "model_not_found"
    openai_error(httpx.get(server.url + "/v1/nothing"), 404)
    openai_error(httpx.get(server.url + "/v1/chat/completions"), 405)
    openai_error(post(server, "/v1/models", b"{}"), 405)
    assert httpx.post(server.url + "/api/nothing").status_code == 404


def test_slow_client_does_not_block_others(server):
    """A client sending its headers byte by byte holds only its own connection."""
    req = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n")
    body = b'{"prompt": "Once", "max_tokens": 3, "temperature": 0}'
    req += b"Content-Length: %d\r\n\r\n" % len(body) + body
    result = {}

    def slow():
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
            for i in range(len(req)):
                s.sendall(req[i:i + 1])
                time.sleep(0.004)
            result["out"] = s.recv(65536)

    t = threading.Thread(target=slow)
    t.start()
    t0 = time.monotonic()
    served = 0
    while t.is_alive() and time.monotonic() - t0 < 30:
        still_serving(server)
        served += 1
    t.join()
    assert served >= 2
    assert result["out"].startswith(b"HTTP/1.1 200")


def metric(srv, name):
    for line in httpx.get(srv.url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise KeyError(name)


def open_stream(port, body):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(data) + data)
    got = b""
    while b"data: " not in got:
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    return s, got


def test_disconnect_mid_stream_stops_generation(start_server):
    srv = start_server("-c", "4096")
    s, head = open_stream(srv.port, {"prompt": "Once", "max_tokens": 4000, "temperature": 1, "stream": True})
    assert head.startswith(b"HTTP/1.1 200")
    s.close()
    deadline = time.monotonic() + 10
    while metric(srv, 'infer_generations_total{result="cancelled"}') < 1:
        assert time.monotonic() < deadline, "the disconnected stream was not cancelled"
        time.sleep(0.05)
    assert metric(srv, "infer_generated_tokens_total") < 4000
    still_serving(srv)


def test_queue_full_is_503(start_server):
    srv = start_server("-np", "1", "--queue", "0", "-c", "4096")
    s, _ = open_stream(srv.port, {"prompt": "Once", "max_tokens": 4000, "temperature": 1, "stream": True})
    try:
        err = openai_error(httpx.post(srv.url + "/v1/completions", json={"prompt": "Hi", "max_tokens": 2}), 503)
        assert err["code"] == "server_busy"
        assert metric(srv, "infer_slots_busy") == 1
    finally:
        s.close()
    deadline = time.monotonic() + 10
    while metric(srv, "infer_slots_busy") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    still_serving(srv)


def test_api_key(start_server):
    srv = start_server("--api-key", "sekret")
    assert httpx.get(srv.url + "/health").status_code == 200
    openai_error(httpx.get(srv.url + "/v1/models"), 401)
    openai_error(httpx.get(srv.url + "/v1/models", headers={"Authorization": "Bearer wrong"}), 401)
    assert httpx.post(srv.url + "/api/tags").status_code == 401
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=srv.url + "/v1", api_key="nope", max_retries=0).models.list()
    ok = openai.OpenAI(base_url=srv.url + "/v1", api_key="sekret", max_retries=0)
    assert ok.completions.create(model="stories260K", prompt="Once", max_tokens=2).usage.completion_tokens == 2


def test_cors(server, start_server):
    r = httpx.get(server.url + "/v1/models", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    assert httpx.options(server.url + "/v1/models").status_code in (404, 405)
    srv = start_server("--cors", "http://app.example")
    r = httpx.options(srv.url + "/v1/chat/completions", headers={"Origin": "http://app.example"})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "http://app.example"


def test_sigterm_finishes_in_flight(start_server):
    srv = start_server("-c", "1024")
    s, got = open_stream(srv.port, {"prompt": "Once", "max_tokens": 600, "temperature": 0, "stream": True})
    srv.proc.send_signal(signal.SIGTERM)
    s.settimeout(30)
    while b"data: [DONE]" not in got:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    assert b"data: [DONE]" in got and re.search(rb'"finish_reason":"(length|stop)"', got)
    assert srv.proc.wait(timeout=30) == 0
    assert "stopped" in srv.output()
