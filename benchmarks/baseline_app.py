"""The serving baseline: a minimal Flask app that returns one feed's bytes from memory.

It answers the feed's path from a view with the same headers the app sends: the plain bytes,
the gzip bytes when the client accepts gzip, and 304 when ``If-None-Match`` names the
current ETag. Run it as the benchmark does::

    BENCHMARK_BASELINE_DIR=... gunicorn -w 2 'benchmarks.baseline_app:create_app()'

The folder holds ``response.json`` (path, headers, ETags) and the bodies ``body`` and
``body.gz``, copied from the app's own answers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, Response, request

ENV = "BENCHMARK_BASELINE_DIR"


def create_app() -> Flask:
    folder = Path(os.environ[ENV])
    spec = json.loads((folder / "response.json").read_text("utf-8"))
    body = (folder / "body").read_bytes()
    gzip_body = (folder / "body.gz").read_bytes()
    plain_headers = [tuple(pair) for pair in spec["plain_headers"]]
    gzip_headers = [tuple(pair) for pair in spec["gzip_headers"]]
    etag: str = spec["etag"]
    gzip_etag: str = spec["gzip_etag"]
    app = Flask(__name__)

    def feed() -> Response:
        gzip_ok = "gzip" in request.headers.get("Accept-Encoding", "")
        tag = gzip_etag if gzip_ok else etag
        headers = gzip_headers if gzip_ok else plain_headers
        if request.headers.get("If-None-Match") == tag:
            return Response(status=304, headers=[(k, v) for k, v in headers if k != "Content-Type"])
        return Response(gzip_body if gzip_ok else body, headers=headers)

    app.add_url_rule(spec["path"], "feed", feed)
    return app
