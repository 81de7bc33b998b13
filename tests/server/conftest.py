"""Fixtures for the infer-server integration tests.

Each server runs on a free loopback port (--port 0; the port is read from its first log
line) with the bundled stories260K model and is stopped with SIGTERM at the end; a
server that does not exit cleanly (status 0, e.g. after an ASan leak report) fails the
test that started it."""
import os
import pathlib
import re
import signal
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "data" / "models"
MODEL = MODELS / "stories260K.gguf"
SERVER = os.environ.get("INFER_SERVER", str(ROOT / "build" / "infer-server"))
CLI = os.environ.get("INFER_CLI", str(ROOT / "build" / "infer-cli"))


class Server:
    def __init__(self, args, tmp_path):
        self.log_path = tmp_path / f"server-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w+")
        cmd = [SERVER, "--port", "0", "--backend", "cpu", "-t", "1"] + [str(a) for a in args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        self.port = None
        while time.monotonic() < deadline:
            text = self.log_path.read_text()
            m = re.search(r"listening on http://[^:]+:(\d+)", text)
            if m and "ready" in text:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"infer-server exited early:\n{text}")
            time.sleep(0.02)
        if self.port is None:
            self.proc.kill()
            raise RuntimeError(f"infer-server did not start:\n{self.log_path.read_text()}")
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self):
        return self.log_path.read_text()

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"infer-server did not stop on SIGTERM:\n{self.output()}")
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def start_server(tmp_path):
    """start_server(*args) -> Server; every server started is stopped and must exit 0."""
    started = []

    def start(*args, model=MODEL):
        extra = ["-m", str(model)] if model else []
        s = Server(extra + list(args), tmp_path)
        started.append(s)
        return s

    yield start
    for s in started:
        rc = s.stop()
        assert rc == 0, f"infer-server exited with {rc}:\n{s.output()[-4000:]}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One shared server for tests that only read: 2 slots of 512 tokens (-c is shared)."""
    s = Server(["-m", str(MODEL), "-np", "2", "-c", "1024"], tmp_path_factory.mktemp("srv"))
    yield s
    rc = s.stop()
    assert rc == 0, f"infer-server exited with {rc}:\n{s.output()[-4000:]}"
