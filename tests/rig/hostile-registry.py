#!/usr/bin/python3
"""A deliberately hostile OCI registry for chroot-distro's tests.

Plain HTTP on 127.0.0.1, a free port chosen by the kernel; prints
"port N" once listening, then serves until killed. The repository name
picks the crafted answer (GET /v2/<case>/manifests/<tag>):

  big-config       a manifest whose config declares 200 bytes; the blob is
                   endless (it never stops sending)
  huge-config      a manifest whose config declares 1 GiB (beyond any sane
                   maximum); the blob is endless too
  many-platforms   an index of 5000 platforms, none of them linux
  artifact         an OCI artifact (a Helm chart's media types)
  many-layers      a manifest listing 1000 layers
  endless-manifest a manifest that never ends (chunked)
  trickle          a valid image whose one layer arrives a byte a second
  error-blob       a valid image whose layer answers HTTP 500 with an
                   endless body
  redirect-blob    a valid image whose layer redirects to
                   http://127.0.0.2:PORT/landing, which records what it
                   receives (as the realm does)
  wrong-blob       a valid image whose one layer's bytes do not hash to
                   the digest the manifest names
  schema1          a Docker schema 1 manifest
  realm            the manifest needs a token: 401 with a Bearer challenge
                   whose realm is http://127.0.0.2:PORT/token (another host,
                   plain HTTP); the realm records what it receives

GET /v2/ answers 401 with that same challenge when started with --realm,
else 200. GET /gets/<digest> says how often that blob was asked for.
GET /log (on either address) returns, one per line, the
Authorization headers the realm received.

Usage: hostile-registry.py [--realm]
"""

import hashlib
import json
import platform
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REALM_HITS = []
BLOB_GETS = {}
STATE = {"realm_port": 0}


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


CONFIG_MT = "application/vnd.oci.image.config.v1+json"
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"
INDEX_MT = "application/vnd.oci.image.index.v1+json"
LAYER_MT = "application/vnd.oci.image.layer.v1.tar+gzip"
ENDLESS_DIGEST = "sha256:" + "ab" * 32


def manifest(config_size, config_mt=CONFIG_MT, layer_mt=LAYER_MT):
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MT,
        "config": {"mediaType": config_mt, "digest": ENDLESS_DIGEST, "size": config_size},
        "layers": [{"mediaType": layer_mt, "digest": "sha256:" + "cd" * 32, "size": 10}],
    }).encode()


def index():
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": INDEX_MT,
        "manifests": [{
            "mediaType": MANIFEST_MT, "digest": "sha256:" + "%064x" % i, "size": 100,
            "platform": {"os": "plan9", "architecture": "arch%d" % i},
        } for i in range(5000)],
    }).encode()


ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
GOOD_CONFIG = json.dumps({"architecture": ARCH, "os": "linux", "config": {},
                          "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "ef" * 32]}}).encode()
WRONG_LAYER = b"0123456789"
BLOBS = {digest(GOOD_CONFIG): GOOD_CONFIG, "sha256:" + "cd" * 32: WRONG_LAYER}


def wrong_blob():
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MT,
        "config": {"mediaType": CONFIG_MT, "digest": digest(GOOD_CONFIG), "size": len(GOOD_CONFIG)},
        "layers": [{"mediaType": LAYER_MT, "digest": "sha256:" + "cd" * 32,
                    "size": len(WRONG_LAYER)}],
    }).encode()


def many_layers():
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MT,
        "config": {"mediaType": CONFIG_MT, "digest": digest(GOOD_CONFIG), "size": len(GOOD_CONFIG)},
        "layers": [{"mediaType": LAYER_MT, "digest": "sha256:%064x" % i, "size": 10}
                   for i in range(1000)],
    }).encode()


TRICKLE_DIGEST = "sha256:" + "be" * 32
ERROR_DIGEST = "sha256:" + "e0" * 32
REDIRECT_DIGEST = "sha256:" + "d0" * 32


def one_layer(layer_digest):
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MT,
        "config": {"mediaType": CONFIG_MT, "digest": digest(GOOD_CONFIG), "size": len(GOOD_CONFIG)},
        "layers": [{"mediaType": LAYER_MT, "digest": layer_digest, "size": 1 << 20}],
    }).encode()


SCHEMA1 = json.dumps({"schemaVersion": 1, "name": "schema1", "tag": "latest",
                      "architecture": ARCH, "fsLayers": [], "history": []}).encode()

CASES = {
    "schema1": ("application/vnd.docker.distribution.manifest.v1+prettyjws", SCHEMA1),
    "trickle": (MANIFEST_MT, one_layer(TRICKLE_DIGEST)),
    "error-blob": (MANIFEST_MT, one_layer(ERROR_DIGEST)),
    "redirect-blob": (MANIFEST_MT, one_layer(REDIRECT_DIGEST)),
    "many-layers": (MANIFEST_MT, many_layers()),
    "wrong-blob": (MANIFEST_MT, wrong_blob()),
    "big-config": (MANIFEST_MT, manifest(200)),
    "huge-config": (MANIFEST_MT, manifest(1 << 30)),
    "many-platforms": (INDEX_MT, index()),
    "artifact": (MANIFEST_MT, manifest(
        10, "application/vnd.cncf.helm.config.v1+json",
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip")),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body=b"", ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def challenge(self):
        realm = "http://127.0.0.2:%d/token" % STATE["realm_port"]
        return ("WWW-Authenticate", 'Bearer realm="%s",service="hostile"' % realm)

    def endless(self, code=200):
        self.send_response(code)
        self.send_header("Content-Type", MANIFEST_MT)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"{" * 65536
        frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        try:
            while True:
                self.wfile.write(frame)
        except (BrokenPipeError, ConnectionResetError):
            return

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/landing":
            REALM_HITS.append(self.headers.get("Authorization", "(none)"))
            return self.send(200, WRONG_LAYER, "application/octet-stream")
        if path == "/token":
            REALM_HITS.append(self.headers.get("Authorization", "(none)"))
            return self.send(200, json.dumps({"token": "t"}).encode())
        if path.startswith("/gets/"):
            return self.send(200, b"%d" % BLOB_GETS.get(path[len("/gets/"):], 0), "text/plain")
        if path == "/log":
            return self.send(200, "".join(h + "\n" for h in REALM_HITS).encode(), "text/plain")
        if path in ("/v2/", "/v2"):
            if REALM:
                return self.send(401, b"{}", headers=[self.challenge()])
            return self.send(200, b"{}")
        parts = path.split("/")
        # /v2/<case>/<kind>/<ref>
        if len(parts) != 5 or parts[1] != "v2":
            return self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}')
        case, kind = parts[2], parts[3]
        if case == "realm" or REALM:
            if not self.headers.get("Authorization", "").startswith("Bearer "):
                return self.send(401, b"{}", headers=[self.challenge()])
        if kind == "manifests" and case == "endless-manifest":
            return self.endless()
        if kind == "manifests" and case in CASES:
            mt, body = CASES[case]
            return self.send(200, body, mt, [("Docker-Content-Digest", digest(body))])
        if kind == "blobs" and parts[4] == ENDLESS_DIGEST:
            return self.endless()
        if kind == "blobs" and parts[4] == REDIRECT_DIGEST:
            landing = "http://127.0.0.2:%d/landing" % STATE["realm_port"]
            return self.send(307, b"", headers=[("Location", landing)])
        if kind == "blobs" and parts[4] == ERROR_DIGEST:
            return self.endless(500)
        if kind == "blobs":
            BLOB_GETS[parts[4]] = BLOB_GETS.get(parts[4], 0) + 1
        if kind == "blobs" and parts[4] == TRICKLE_DIGEST:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(1 << 20))
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(1)
            except (BrokenPipeError, ConnectionResetError):
                return
        if kind == "blobs" and parts[4] in BLOBS:
            return self.send(200, BLOBS[parts[4]], "application/octet-stream")
        return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}')


REALM = "--realm" in sys.argv[1:]


def main():
    # The registry on 127.0.0.1; the "other host" realm on 127.0.0.2.
    servers = [ThreadingHTTPServer((host, 0), Handler) for host in ("127.0.0.1", "127.0.0.2")]
    for s in servers:
        s.daemon_threads = True
        # Clients hanging up on endless answers is the point, not an error.
        s.handle_error = lambda request, address: None
        threading.Thread(target=s.serve_forever, daemon=True).start()
    STATE["realm_port"] = servers[1].server_address[1]
    print("port %d" % servers[0].server_address[1], flush=True)
    sys.stdin.read()  # until the test closes our stdin (or dies)


if __name__ == "__main__":
    main()
