"""Example application: a tiny HTTP service configured by /app/config.json."""

import getpass
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "config.json")) as f:
    CONFIG = json.load(f)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, "text/plain", b"ok\n")
        if self.path in ("/", "/index.html"):
            with open(os.path.join(HERE, "static", "index.html"), "rb") as f:
                return self.reply(200, "text/html", f.read())
        if self.path == "/api/info":
            info = {"app": CONFIG["name"], "greeting": CONFIG["greeting"], "user": getpass.getuser(),
                    "version": os.environ.get("APP_VERSION", "unknown")}
            return self.reply(200, "application/json", json.dumps(info).encode())
        self.reply(404, "text/plain", b"not found\n")

    def reply(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", CONFIG.get("port", 8080)))
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
