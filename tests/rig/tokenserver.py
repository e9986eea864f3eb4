#!/usr/bin/python3
"""Docker registry token server for the chroot-distro test rig.

Implements the token flow that Docker Hub uses and that distribution's
`auth: token` expects:

    GET  /token?service=S&scope=repository:NAME:pull,push[&scope=...]
         [Authorization: Basic base64(user:password)]
    POST /token   (OAuth2 form: grant_type=password, username, password,
                   service, scope; scopes separated by spaces)

Policy:
  * valid Basic credentials: every requested repository action (pull,
    push, delete, *) and registry:catalog:*.
  * no credentials: "pull" on repositories whose name starts with the
    public prefix ("public/"), nothing else.  The token is still issued
    (HTTP 200) with an empty access list, so the registry itself answers
    401 insufficient_scope, like Docker Hub.
  * wrong credentials: 401 {"details": "incorrect username or password"}.
  * a service other than the configured one: 400.

Tokens are JWTs signed with ES256 (P-256 key) or RS256 (RSA key).  The
signature comes from `openssl dgst -sha256 -sign KEY`.  For ES256 the DER
signature is converted to raw r||s.  The header carries `kid`, the libtrust
fingerprint of the public key.  distribution 2.8 looks the key up under that
ID among the public keys of the certificates in `rootcertbundle`.

Usage: tokenserver.py CONFIG.json
CONFIG keys: listen ("127.0.0.1:5446"), tls_cert, tls_key, signing_key,
signing_cert, alg ("ES256"|"RS256"), issuer, service, user, password_file,
public_prefix, ttl (seconds).
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import ssl
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ALLOWED_ACTIONS = ("pull", "push", "delete", "*")


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def openssl(*args, data=None):
    return subprocess.run(("openssl",) + args, input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=True).stdout


def der_len(buf, i):
    n = buf[i]
    i += 1
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[i:i + k], "big")
        i += k
    return n, i


def ecdsa_der_to_raw(der, size):
    """ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } -> r || s."""
    if der[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    _, i = der_len(der, 1)
    out = b""
    for _ in range(2):
        if der[i] != 0x02:
            raise ValueError("not a DER INTEGER")
        n, i = der_len(der, i + 1)
        out += int.from_bytes(der[i:i + n], "big").to_bytes(size, "big")
        i += n
    return out


def libtrust_kid(spki_der):
    """docker/libtrust KeyID: SHA-256 of the DER SubjectPublicKeyInfo,
    first 240 bits, base32, in 12 colon-separated groups of 4."""
    s = base64.b32encode(hashlib.sha256(spki_der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


class Signer:
    def __init__(self, cfg):
        self.key = cfg["signing_key"]
        self.alg = cfg.get("alg", "ES256")
        if self.alg not in ("ES256", "RS256"):
            raise SystemExit("tokenserver: unsupported alg %s" % self.alg)
        spki = openssl("pkey", "-in", self.key, "-pubout", "-outform", "DER")
        cert_pub = openssl("x509", "-in", cfg["signing_cert"], "-noout", "-pubkey")
        cert_spki = openssl("pkey", "-pubin", "-outform", "DER", data=cert_pub)
        if spki != cert_spki:
            raise SystemExit("tokenserver: %s does not match %s"
                             % (cfg["signing_cert"], self.key))
        self.kid = libtrust_kid(spki)

    def jwt(self, claims):
        header = {"typ": "JWT", "alg": self.alg, "kid": self.kid}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = openssl("dgst", "-sha256", "-sign", self.key, data=signing_input.encode())
        if self.alg == "ES256":
            sig = ecdsa_der_to_raw(sig, 32)
        return signing_input + "." + b64url(sig)


def parse_scopes(values):
    """'repository:foo/bar:pull,push' (several, or space-separated) ->
    [(type, name, [actions])].  Names may not contain ':' except for a
    registry port, so split type off the front and actions off the back."""
    out = []
    for v in values:
        for scope in v.split():
            typ, sep, rest = scope.partition(":")
            name, sep2, actions = rest.rpartition(":")
            if not sep or not sep2 or not typ or not name:
                raise ValueError("bad scope %r" % scope)
            out.append((typ, name, [a for a in actions.split(",") if a]))
    return out


class Handler(BaseHTTPRequestHandler):
    server_version = "cd-rig-token/1"
    protocol_version = "HTTP/1.1"
    timeout = 30

    def send_json(self, code, obj, extra_headers=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def basic_creds(self):
        h = self.headers.get("Authorization", "")
        if not h.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(h[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return ("", "")
        return (user, password)

    def check_creds(self, creds):
        cfg = self.server.cfg
        with open(cfg["password_file"]) as f:
            want = f.read().strip()
        user, password = creds
        return (hmac.compare_digest(user.encode(), cfg["user"].encode()) and
                hmac.compare_digest(password.encode(), want.encode()))

    def issue(self, params, creds):
        cfg = self.server.cfg
        service = (params.get("service") or [cfg["service"]])[0]
        if service != cfg["service"]:
            return self.send_json(400, {"details": "unknown service %r" % service})
        try:
            scopes = parse_scopes(params.get("scope", []))
        except ValueError as e:
            return self.send_json(400, {"details": str(e)})
        subject = ""
        if creds is not None:
            if not self.check_creds(creds):
                self.log_message("denied: bad credentials for %r", creds[0])
                return self.send_json(401, {"details": "incorrect username or password"},
                                      [("WWW-Authenticate", 'Basic realm="cd-rig-token"')])
            subject = creds[0]

        access = []
        for typ, name, actions in scopes:
            if subject:
                if typ == "repository":
                    granted = [a for a in actions if a in ALLOWED_ACTIONS]
                elif typ == "registry" and name == "catalog":
                    granted = [a for a in actions if a == "*"]
                else:
                    granted = []
            elif typ == "repository" and name.startswith(cfg["public_prefix"]):
                granted = [a for a in actions if a == "pull"]
            else:
                granted = []
            if granted:
                access.append({"type": typ, "name": name, "actions": granted})

        now = int(time.time())
        ttl = int(cfg.get("ttl", 300))
        claims = {
            "iss": cfg["issuer"],
            "sub": subject,
            # distribution 2.8 decodes "aud" into a Go string: it must not
            # be a JSON array.
            "aud": cfg["service"],
            "exp": now + ttl,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        token = self.server.signer.jwt(claims)
        self.log_message("issued: sub=%r access=%s", subject, json.dumps(access))
        self.send_json(200, {
            "token": token,
            "access_token": token,
            "expires_in": ttl,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        })

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/healthz":
            return self.send_json(200, {"status": "ok"})
        if url.path != "/token":
            return self.send_json(404, {"details": "not found"})
        self.issue(parse_qs(url.query), self.basic_creds())

    do_HEAD = do_GET

    def do_POST(self):
        url = urlsplit(self.path)
        if url.path != "/token":
            return self.send_json(404, {"details": "not found"})
        n = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(n).decode("utf-8", "replace")) if n else {}
        grant = (form.get("grant_type") or [""])[0]
        if grant == "password":
            creds = ((form.get("username") or [""])[0], (form.get("password") or [""])[0])
        elif grant == "":
            creds = self.basic_creds()
        else:
            return self.send_json(400, {"error": "unsupported_grant_type"})
        self.issue(form, creds)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"),
                                         self.address_string(), fmt % args))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # tests may fetch many tokens at once
    # The TLS handshake runs in the request thread (first read), not in
    # accept(), so one slow client cannot stall the others.

    def get_request(self):
        sock, addr = super().get_request()
        return self.tls.wrap_socket(sock, server_side=True,
                                    do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        sys.stderr.write("%s %s error: %r\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"),
                                                client_address[0], e))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tokenserver.py CONFIG.json")
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    host, _, port = cfg["listen"].rpartition(":")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cfg["tls_cert"], cfg["tls_key"])
    httpd = Server((host, int(port)), Handler)
    httpd.tls = tls
    httpd.cfg = cfg
    httpd.signer = Signer(cfg)
    sys.stderr.write("%s listening on https://%s (kid %s, pid %d)\n"
                     % (time.strftime("%Y-%m-%dT%H:%M:%S"), cfg["listen"],
                        httpd.signer.kid, os.getpid()))
    sys.stderr.flush()
    httpd.serve_forever()


if __name__ == "__main__":
    main()
