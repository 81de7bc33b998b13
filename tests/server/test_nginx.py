"""Two infer-server instances behind nginx with the documented configuration
(docs/nginx-infer-server.conf): conversations stick to one instance (its prefix cache
stays warm), different conversations spread over both, streaming passes through."""
import shutil
import subprocess
import time

import httpx
import pytest

from conftest import ROOT

NGINX = shutil.which("nginx") or (shutil.which("nginx", path="/usr/sbin"))


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not NGINX, reason="nginx not installed (apt-get install nginx-light)")
def test_two_instances_behind_nginx(start_server, tmp_path):
    a = start_server("-np", "1", "-c", "512")
    b = start_server("-np", "1", "-c", "512")
    port = free_port()
    site = (ROOT / "docs" / "nginx-infer-server.conf").read_text()
    site = site.replace("127.0.0.1:8081", f"127.0.0.1:{a.port}").replace("127.0.0.1:8082", f"127.0.0.1:{b.port}")
    site = site.replace("listen 127.0.0.1:8080", f"listen 127.0.0.1:{port}")
    temps = "\n".join(f"{k}_temp_path {tmp_path}/{k};" for k in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"])
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""daemon off; worker_processes 1; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
{"user root;" if __import__("os").geteuid() == 0 else ""}
events {{ worker_connections 256; }}
http {{ access_log off; {temps}
{site}
}}""")
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)

        def served(srv):
            for line in httpx.get(srv.url + "/metrics").text.splitlines():
                if line.startswith('infer_generations_total{result="done"}'):
                    return float(line.split()[-1])

        # One conversation, three turns: every turn on the same instance, history cached.
        msgs = [{"role": "user", "content": "Tell me about a cat"}]
        before = (served(a), served(b))
        for turn in range(3):
            r = httpx.post(url + "/v1/chat/completions", headers={"X-Session-Id": "conversation-42"},
                           json={"messages": msgs, "max_tokens": 12, "temperature": 0}).json()
            if turn:
                assert r["usage"]["prompt_tokens_details"]["cached_tokens"] >= prev_prompt - 1
            prev_prompt = r["usage"]["prompt_tokens"]
            msgs += [{"role": "assistant", "content": r["choices"][0]["message"]["content"]},
                     {"role": "user", "content": f"and then {turn}?"}]
        after = (served(a), served(b))
        assert sorted(x - y for x, y in zip(after, before)) == [0, 3]

        # Sixteen conversations spread over both instances.
        before = (served(a), served(b))
        for i in range(16):
            assert httpx.post(url + "/v1/completions", headers={"X-Session-Id": f"user-{i}"},
                              json={"prompt": "Once", "max_tokens": 2}).status_code == 200
        after = (served(a), served(b))
        assert all(x > y for x, y in zip(after, before)), (before, after)

        # Streaming through the proxy keeps the SSE framing.
        with httpx.stream("POST", url + "/v1/completions", json={"prompt": "Once", "max_tokens": 8, "stream": True}) as r:
            body = r.read().decode()
        assert body.endswith("data: [DONE]\n\n")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
