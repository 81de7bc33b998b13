"""A local HTTP server for infer-pull's tests, on a free loopback port.

Files are served from a dict {name: bytes}. The first path component picks the behaviour:
  /range/NAME      Range requests honoured (206), ETag-free
  /norange/NAME    Range ignored: always 200 with the whole file
  /cut/NAME        the first request for NAME stops halfway (connection closed after
                   sending half of what Content-Length promised); later ones honour Range
  /cutnorange/NAME as /cut, but Range is never honoured
  /stall/NAME      the first request sends half, then stalls for 30 s; later ones honour Range
  /slow/NAME       sent in 32 KiB pieces, 0.15 s apart
  /sha/NAME        X-Linked-Etag: the file's real SHA-256 (as Hugging Face sends)
  /badsha/NAME     X-Linked-Etag: a wrong SHA-256
  /OWNER/REPO/resolve/main/NAME   Hugging Face layout: Range and X-Linked-Etag
Anything else, or an unknown NAME, is a 404. Every request is logged (path, Range header).
"""
import hashlib
import http.server
import threading
import time


class Server:
    def __init__(self, files):
        self.files = files
        self.log = []
        self.first_seen = set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.log.append((self.path, self.headers.get("Range")))
                parts = self.path.lstrip("/").split("/")
                mode, name = parts[0], parts[-1]
                if len(parts) == 5 and parts[2] == "resolve" and parts[3] == "main":
                    mode = "hf"
                elif len(parts) != 2:
                    mode = None
                data = outer.files.get(name)
                if data is None or mode not in ("range", "norange", "cut", "cutnorange", "stall", "slow",
                                                "sha", "badsha", "hf"):
                    body = b"not found"
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                first = (mode, name) not in outer.first_seen
                outer.first_seen.add((mode, name))
                honour_range = mode not in ("norange", "cutnorange")
                start = 0
                rng = self.headers.get("Range")
                if rng and honour_range and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", "bytes */%d" % len(data))
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                body = data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes" if honour_range else "none")
                if mode in ("sha", "hf"):
                    self.send_header("X-Linked-Etag", '"%s"' % hashlib.sha256(data).hexdigest())
                if mode == "badsha":
                    self.send_header("X-Linked-Etag", '"%s"' % ("0" * 64))
                self.end_headers()
                if mode in ("cut", "cutnorange") and first:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if mode == "stall" and first:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    time.sleep(30)   # longer than any test: only the stall timeout ends it
                    self.close_connection = True
                    return
                if mode == "slow":
                    for i in range(0, len(body), 32768):
                        self.wfile.write(body[i:i + 32768])
                        self.wfile.flush()
                        time.sleep(0.15)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None   # cut connections are on purpose
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
