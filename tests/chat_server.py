"""A real HTTP server on 127.0.0.1 speaking the chat-completions protocol, backed by a local causal LM,
with failures on demand: the tests and bench/bench_collect.py drive `univar collect` against it
through the real `openai` client.

    server = ChatServer(LocalCausalLM(folder, model="tiny"), api_key="sk-test")
    server.faults = ["429", "ok"]      # next requests: a rate limit, then a normal answer
    with server: ... server.base_url ...
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from univar_core.collect.backends import GenerationSettings, Prompt

FAULTS = ("ok", "429", "500", "drop")


class ChatServer:
    def __init__(self, backend, *, api_key: str | None = None, delay_s: float = 0.0, max_tokens_cap: int = 16):
        self.backend = backend
        self.model = backend.model
        self.api_key = api_key
        self.delay_s = delay_s
        self.max_tokens_cap = max_tokens_cap   # a tiny random model has nothing to say at length
        self.completion_tokens_only = False    # answer 400 to `max_tokens`, as OpenAI's newer models do
        self.faults: list[str] = []      # consumed one per request; "ok" when empty
        self.always: str | None = None   # a fault for every request (e.g. "500")
        self.requests: list[dict] = []   # the bodies of the requests answered
        self.n_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth_headers: list[str] = []
        self._lock = threading.Lock()
        self._gen_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle
    def start(self) -> "ChatServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):   # quiet
                pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    return self._json(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                return self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server._handle(self, body)

            def _json(self, code: int, obj: dict, headers: dict | None = None):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request, client_address):   # a client that went away (killed, timed out)
                pass

        self._httpd = Quiet(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> "ChatServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- one request
    def _handle(self, h, body: dict) -> None:
        with self._lock:
            self.n_requests += 1
            fault = self.always or (self.faults.pop(0) if self.faults else "ok")
            self.auth_headers.append(h.headers.get("Authorization", ""))
        if not h.path.rstrip("/").endswith("/chat/completions"):
            return h._json(404, {"error": {"message": f"no route {h.path}"}})
        if self.api_key and h.headers.get("Authorization") != f"Bearer {self.api_key}":
            given = h.headers.get("Authorization", "")[7:]
            return h._json(401, {"error": {"message": f"Incorrect API key provided: {given}",
                                           "type": "invalid_request_error", "code": "invalid_api_key"}})
        if body.get("model") != self.model:
            return h._json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
        if self.completion_tokens_only and "max_tokens" in body:
            return h._json(400, {"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with "
                                                      "this model. Use 'max_completion_tokens' instead.",
                                           "type": "invalid_request_error", "param": "max_tokens"}})
        if fault == "429":
            return h._json(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0"})
        if fault == "500":
            return h._json(500, {"error": {"message": "internal error"}})
        if fault == "drop":
            h.close_connection = True
            h.connection.shutdown(2)   # no response at all: the client sees a dropped connection
            return None
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            messages = body.get("messages", [])
            system = " ".join(m["content"] for m in messages if m.get("role") == "system")
            question = " ".join(m["content"] for m in messages if m.get("role") == "user")
            settings = GenerationSettings(temperature=float(body.get("temperature", 1.0)),
                                          top_p=float(body.get("top_p", 1.0)),
                                          max_tokens=min(int(body.get("max_tokens")
                                                             or body.get("max_completion_tokens") or 16),
                                                         self.max_tokens_cap))
            with self._gen_lock:
                done = self.backend.complete([Prompt(question=question, system=system, seed=body.get("seed"))],
                                             settings)[0]
            with self._lock:
                self.requests.append(body)
        finally:
            with self._lock:
                self.in_flight -= 1
        h._json(200, {
            "id": f"chatcmpl-{self.n_requests}", "object": "chat.completion", "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": done.text},
                         "finish_reason": done.finish_reason}],
            "usage": {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
                      "total_tokens": (done.prompt_tokens or 0) + (done.completion_tokens or 0)},
        })
