#!/usr/bin/env python3
"""Azure WORM stand-in: TEST INFRASTRUCTURE ONLY, NEVER A PRODUCTION TARGET.

Azurite (the Azure Storage emulator) answers Set Blob Immutability Policy, Delete Immutability
Policy and Set Legal Hold with 501 and silently drops immutability headers on upload. This small
HTTP proxy sits in front of Azurite (default 127.0.0.1:10001 -> 127.0.0.1:10000) and

* forwards every request to Azurite unchanged (method, path, query, headers including
  Authorization, body) -- a Shared Key signature covers the canonicalized resource
  `/<account>/<path>`, never the host or port, so it stays valid behind the proxy;
* implements, in memory, per blob, with the semantics of the Azure Blob REST documentation:
  - Set Blob Immutability Policy   PUT    ?comp=immutabilityPolicies
  - Delete Blob Immutability Policy DELETE ?comp=immutabilityPolicies
  - Set Blob Legal Hold            PUT    ?comp=legalhold
  - the same policy and hold given with the content: `x-ms-immutability-policy-until-date`,
    `x-ms-immutability-policy-mode` and `x-ms-legal-hold` on Put Blob and Put Block List
    (validated before the write is forwarded, applied when Azurite stored it);
* adds `x-ms-immutability-policy-until-date`, `x-ms-immutability-policy-mode` and `x-ms-legal-hold`
  to Get Blob / Get Blob Properties responses of blobs that carry a policy or a hold;
* refuses Delete Blob and every write that would change a protected blob (Put Blob, Put Block
  List, Copy Blob, Set Blob Metadata, Set Blob Properties, Put Page, Append Block) with
  409 `BlobImmutableDueToLegalHold` / `BlobImmutableDueToPolicy`;
* claims version-level immutability for every container it fronts, through one documented
  mechanism only: the `x-ms-immutable-storage-with-versioning-enabled: true` response header of
  Get Container Properties (Azurite always says false there).

What it does NOT do (read README.md): no blob versions (Azurite has none, so no x-ms-version-id;
an overwrite of a protected blob is refused instead of creating a new version), no persistence
(state is lost on restart), no container-level policies, List Blobs XML is not rewritten, SAS and
bearer requests to the three operations are authorised by probing Azurite, not by checking the
`i` (immutability) SAS permission.

Standard library only. Run `python3 worm_standin.py --help`.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import http.client
import http.server
import json
import socketserver
import sys
import threading
import urllib.parse
import uuid

# Well-known Azurite development account (public, documented by Microsoft for the emulator).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade",
}

# Input is matched case-insensitively (the Python SDK sends "Locked", the Rust crate "locked");
# output is lowercase as the service returns it (the official Rust crate, generated from
# Microsoft's TypeSpec, parses only "locked"/"unlocked"/"mutable").
POLICY_MODES = {"unlocked": "unlocked", "locked": "locked"}


def http_date(when: dt.datetime) -> str:
    """RFC 1123 date as Azure writes it (`Sun, 22 Nov 2026 07:00:00 GMT`)."""
    return email.utils.format_datetime(when.astimezone(dt.timezone.utc), usegmt=True)


def parse_http_date(value: str) -> dt.datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed.astimezone(dt.timezone.utc)


# --- Shared Key (Authorize with Shared Key, "Blob, Queue, and File services (Shared Key
# authorization)" string-to-sign). Used to check the signature of the three operations the
# stand-in answers itself, and to sign its own probe requests to Azurite. ---

SIGNED_HEADERS = [
    "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
    "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
]


def string_to_sign(method: str, account: str, path: str, query: str, headers: dict[str, str]) -> str:
    """The documented string-to-sign (version 2015-02-21 and later): an empty Content-Length is
    written as the empty string; x-ms-* headers lowercased, sorted, `name:value`; the
    canonicalized resource is `/<account><path>` followed by each query parameter lowercased,
    sorted, `\\nname:v1,v2`. `path` already starts with the account for path-style (emulator)
    URLs, which is why Azurite resources read `/devstoreaccount1/devstoreaccount1/...`."""
    lower = {k.lower(): v for k, v in headers.items()}
    parts = [method.upper()]
    for name in SIGNED_HEADERS:
        value = lower.get(name, "")
        if name == "content-length" and value == "0":
            value = ""
        parts.append(value)
    canon_headers = sorted(
        (k, " ".join(v.strip().split())) for k, v in lower.items() if k.startswith("x-ms-")
    )
    for name, value in canon_headers:
        parts.append(f"{name}:{value}")
    resource = f"/{account}{path}"
    params: dict[str, list[str]] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        params.setdefault(name.lower(), []).append(value)
    for name in sorted(params):
        resource += f"\n{name}:{','.join(sorted(params[name]))}"
    parts.append(resource)
    return "\n".join(parts)


def sign(key_b64: str, text: str) -> str:
    digest = hmac.new(base64.b64decode(key_b64), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class State:
    """Policy and legal hold per (account, container, blob), in memory."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blobs: dict[tuple[str, str, str], dict] = {}

    def get(self, key):
        with self.lock:
            entry = self.blobs.get(key)
            return dict(entry) if entry else None

    def update(self, key, **fields):
        with self.lock:
            entry = self.blobs.setdefault(key, {"until": None, "mode": None, "legal_hold": False})
            entry.update(fields)
            if entry["until"] is None and not entry["legal_hold"]:
                del self.blobs[key]

    def forget(self, key):
        with self.lock:
            self.blobs.pop(key, None)


def protection(entry: dict | None, now: dt.datetime) -> str | None:
    """Error code that refuses a change to this blob, or None. A legal hold is reported first:
    it protects regardless of any policy date (Azure: "Legal holds ... until explicitly cleared")."""
    if not entry:
        return None
    if entry.get("legal_hold"):
        return "BlobImmutableDueToLegalHold"
    until = entry.get("until")
    if until is not None and until > now:
        return "BlobImmutableDueToPolicy"
    return None


MESSAGES = {
    "BlobImmutableDueToLegalHold": "This operation is not permitted as the blob is immutable due to one or more legal holds.",
    "BlobImmutableDueToPolicy": "This operation is not permitted as the blob is immutable due to a policy.",
    "ImmutabilityPolicyDeleteOnLockedPolicy": "This operation is not permitted as the immutability policy is locked.",
    "BlobNotFound": "The specified blob does not exist.",
    "MissingRequiredHeader": "An HTTP header that's mandatory for this request is not specified.",
    "InvalidHeaderValue": "The value for one of the HTTP headers is not in the correct format.",
    "AuthenticationFailed": "Server failed to authenticate the request. Make sure the value of the Authorization header is formed correctly including the signature.",
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK of the headers (~40 ms on Linux) on every response that has one.
    disable_nagle_algorithm = True
    server_version = "wormvault-worm-standin"
    sys_version = ""

    # --- plumbing ---

    def log_message(self, fmt, *args):  # quiet unless --verbose
        if self.server.verbose:
            sys.stderr.write("standin: " + (fmt % args) + "\n")

    def finish(self) -> None:
        conn = getattr(self, "_upstream", None)
        if conn is not None:
            conn.close()
        super().finish()

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_upstream(self, method, target, headers, body):
        """One fresh upstream connection per request, never retried: a retry after Azurite
        already acted on a request (e.g. a create-only commit) would turn success into 409."""
        if getattr(self, "_upstream", None) is not None:
            self._upstream.close()
        host, port = self.server.upstream
        self._upstream = http.client.HTTPConnection(host, port, timeout=300)
        self._upstream.request(method, target, body=body, headers=headers)
        return self._upstream.getresponse()

    def capture(self, body_len: int) -> None:
        path = self.server.capture_path
        if not path:
            return
        parsed = urllib.parse.urlsplit(self.path)
        record = {
            "method": self.command,
            "path": parsed.path,
            "query": urllib.parse.parse_qsl(parsed.query, keep_blank_values=True),
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_length": body_len,
        }
        with self.server.capture_lock, open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")

    def reply(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        request_id = str(uuid.uuid4())
        base = {
            "x-ms-request-id": request_id,
            "x-ms-version": self.headers.get("x-ms-version", ""),
            "Date": http_date(dt.datetime.now(dt.timezone.utc)),
            "Server": "wormvault-worm-standin (test infrastructure)",
        }
        if self.headers.get("x-ms-client-request-id"):
            base["x-ms-client-request-id"] = self.headers["x-ms-client-request-id"]
        base.update(headers)
        base["Content-Length"] = str(len(body))
        for name, value in base.items():
            self.send_header(name, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status: int, code: str, detail: str = "") -> None:
        message = MESSAGES.get(code, code) + (f" {detail}" if detail else "")
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = (
            '<?xml version="1.0" encoding="utf-8"?><Error><Code>'
            + code
            + "</Code><Message>"
            + message
            + f"\nRequestId:{uuid.uuid4()}\nTime:{now}</Message></Error>"
        ).encode("utf-8")
        self.reply(status, {"x-ms-error-code": code, "Content-Type": "application/xml"}, body)

    # --- request routing ---

    def blob_key(self):
        """(account, container, blob) for a blob URL, else None. Path-style (emulator) URLs:
        /<account>/<container>/<blob...>."""
        path = urllib.parse.urlsplit(self.path).path
        parts = path.split("/", 3)
        if len(parts) < 4 or not parts[1] or not parts[2] or not parts[3]:
            return None
        return (parts[1], parts[2], urllib.parse.unquote(parts[3]))

    def query(self) -> dict[str, str]:
        q = urllib.parse.urlsplit(self.path).query
        return {k.lower(): v for k, v in urllib.parse.parse_qsl(q, keep_blank_values=True)}

    def handle_any(self) -> None:
        body = self.read_body()
        self.capture(len(body))
        query = self.query()
        comp = query.get("comp", "").lower()
        key = self.blob_key()
        restype = query.get("restype", "").lower()
        if key and restype != "container":
            if comp == "immutabilitypolicies" and self.command in ("PUT", "DELETE"):
                return self.immutability_policy(key)
            if comp == "legalhold" and self.command == "PUT":
                return self.legal_hold(key)
            if self.changes_blob(comp, query):
                code = protection(self.server.state.get(key), dt.datetime.now(dt.timezone.utc))
                if code:
                    return self.error(409, code)
        lock = None
        if (key and restype != "container" and self.command == "PUT" and comp in ("", "blocklist")
                and "snapshot" not in query and not getattr(self.server, "drop_lock_on_write", False)):
            lock = self.lock_on_write()
            if isinstance(lock, tuple):
                return self.error(400, *lock)
        return self.forward(body, key, comp, restype, lock)

    def lock_on_write(self):
        """The policy and hold a Put Blob / Put Block List asks for with its content (Put Blob:
        x-ms-immutability-policy-until-date, x-ms-immutability-policy-mode, x-ms-legal-hold,
        version 2020-06-12 and later): a dict of state fields, None when it asks for neither, or
        (code, detail) for a 400 before anything is written."""
        fields = {}
        raw_until = self.headers.get("x-ms-immutability-policy-until-date")
        if raw_until is not None:
            until = parse_http_date(raw_until)
            if until is None:
                return ("InvalidHeaderValue", "Header: x-ms-immutability-policy-until-date (RFC 1123 expected)")
            if until <= dt.datetime.now(dt.timezone.utc):
                return ("InvalidHeaderValue", "Header: x-ms-immutability-policy-until-date is in the past")
            raw_mode = self.headers.get("x-ms-immutability-policy-mode", "unlocked")
            mode = POLICY_MODES.get(raw_mode.strip().lower())
            if mode is None:
                return ("InvalidHeaderValue", f"Header: x-ms-immutability-policy-mode={raw_mode!r} (Unlocked or Locked)")
            fields.update(until=until, mode=mode)
        raw_hold = self.headers.get("x-ms-legal-hold")
        if raw_hold is not None:
            if raw_hold.strip().lower() not in ("true", "false"):
                return ("InvalidHeaderValue", "Header: x-ms-legal-hold (true or false)")
            fields["legal_hold"] = raw_hold.strip().lower() == "true"
        return fields or None

    def changes_blob(self, comp: str, query: dict[str, str]) -> bool:
        """Operations that would delete or change the content/metadata of the current blob
        (Azure immutable storage overview, "Allowed operations"). Put Block only stages
        uncommitted data and Set Blob Tags changes index tags, which immutability does not
        cover; both pass."""
        if "snapshot" in query or "versionid" in query:
            # Snapshots are separate (unprotected) resources in the stand-in.
            return False
        if self.command == "DELETE":
            return comp == ""
        if self.command == "PUT":
            return comp in ("", "blocklist", "metadata", "properties", "page", "appendblock", "seal")
        return False

    def forward(self, body: bytes, key, comp: str, restype: str, lock=None) -> None:
        # Header names are case-insensitive: drop the client's Content-Length (any spelling) and
        # write one, or Node's parser in Azurite sees two and answers a bare 400.
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        try:
            response = self.send_upstream(self.command, self.path, headers, body)
        except (OSError, http.client.HTTPException) as err:
            return self.error(502, "UpstreamUnavailable", f"Azurite at {self.server.upstream}: {err}")
        extra: dict[str, str] = {}
        if key and restype != "container" and comp == "" and self.command in ("GET", "HEAD") and response.status in (200, 206):
            entry = self.server.state.get(key)
            if entry:
                if entry.get("until") is not None:
                    extra["x-ms-immutability-policy-until-date"] = http_date(entry["until"])
                    extra["x-ms-immutability-policy-mode"] = entry["mode"]
                extra["x-ms-legal-hold"] = "true" if entry.get("legal_hold") else "false"
        if (
            restype == "container"
            and comp == ""
            and self.command in ("GET", "HEAD")
            and response.status == 200
        ):
            # Get Container Properties: the documented flag for version-level immutability.
            extra["x-ms-immutable-storage-with-versioning-enabled"] = "true"
        if key and response.status in (200, 201, 202) and restype != "container":
            # A blob replaced or deleted (only possible while unprotected) loses the old state.
            if (self.command == "DELETE" and comp == "") or (
                self.command == "PUT" and comp in ("", "blocklist") and "snapshot" not in self.query()
            ):
                self.server.state.forget(key)
            if lock and self.command == "PUT" and response.status == 201:
                self.server.state.update(key, **lock)
        # send_response_only: Azurite's own Server and Date headers are passed on, not doubled.
        self.log_request(response.status)
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        skip = HOP_BY_HOP | {"content-length"} | {k.lower() for k in extra}
        for name, value in response.getheaders():
            if name.lower() not in skip:
                self.send_header(name, value)
        for name, value in extra.items():
            self.send_header(name, value)
        if self.command == "HEAD" or response.status in (204, 304):
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            response.read()
            return
        if length is not None:
            self.send_header("Content-Length", length)
            self.end_headers()
            remaining = int(length)
            while remaining > 0:
                chunk = response.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
        else:
            data = response.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    # --- authorisation of the operations answered here ---

    def authorised(self, key) -> tuple[bool, str]:
        """Shared Key requests are verified against the account key; other schemes (SAS, bearer)
        are authorised by Azurite through a probe (see probe_exists)."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("SharedKey "):
            return True, ""
        try:
            account, signature = auth[len("SharedKey "):].split(":", 1)
        except ValueError:
            return False, "malformed SharedKey header"
        if account != key[0] or account not in self.server.keys:
            return False, f"unknown account {account}"
        parsed = urllib.parse.urlsplit(self.path)
        headers = dict(self.headers.items())
        expected = sign(self.server.keys[account], string_to_sign(self.command, account, parsed.path, parsed.query, headers))
        if not hmac.compare_digest(expected, signature):
            return False, "signature mismatch"
        return True, ""

    def probe_exists(self, key) -> int:
        """Get Blob Properties on Azurite: 200 if the blob exists, else Azurite's status."""
        account, container, blob = key
        path = "/" + "/".join([account, container, urllib.parse.quote(blob, safe="/~")])
        auth = self.headers.get("Authorization", "")
        headers = {"x-ms-version": self.headers.get("x-ms-version", "2021-10-04"),
                   "x-ms-date": http_date(dt.datetime.now(dt.timezone.utc))}
        target = path
        if auth.startswith("SharedKey ") and account in self.server.keys:
            sts = string_to_sign("HEAD", account, path, "", headers)
            headers["Authorization"] = f"SharedKey {account}:{sign(self.server.keys[account], sts)}"
        else:
            if auth:
                headers["Authorization"] = auth
            q = [(k, v) for k, v in urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query, keep_blank_values=True) if k.lower() != "comp"]
            if q:
                target = path + "?" + urllib.parse.urlencode(q)
        try:
            response = self.send_upstream("HEAD", target, headers, None)
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            return 502

    def precheck(self, key) -> bool:
        ok, why = self.authorised(key)
        if not ok:
            self.error(403, "AuthenticationFailed", why)
            return False
        status = self.probe_exists(key)
        if status == 404:
            self.error(404, "BlobNotFound")
            return False
        if status != 200:
            self.error(status if status >= 400 else 502, "AuthenticationFailed" if status == 403 else "UpstreamError",
                       f"Azurite answered {status} to the existence probe")
            return False
        return True

    # --- the three operations ---

    def immutability_policy(self, key) -> None:
        """Set Blob Immutability Policy / Delete Blob Immutability Policy
        (learn.microsoft.com/rest/api/storageservices/set-blob-immutability-policy and
        .../delete-blob-immutability-policy)."""
        if not self.precheck(key):
            return
        state = self.server.state
        current = state.get(key) or {}
        now = dt.datetime.now(dt.timezone.utc)
        current_active = current.get("until") is not None
        if self.command == "DELETE":
            # Only an unlocked policy can be deleted; a locked one is refused with
            # ImmutabilityPolicyDeleteOnLockedPolicy (Azure SDK error-code lists).
            if current_active and current.get("mode") == "locked":
                return self.error(409, "ImmutabilityPolicyDeleteOnLockedPolicy")
            state.update(key, until=None, mode=None)
            return self.reply(200, {})
        raw_until = self.headers.get("x-ms-immutability-policy-until-date")
        if raw_until is None:
            return self.error(400, "MissingRequiredHeader", "Header: x-ms-immutability-policy-until-date")
        until = parse_http_date(raw_until)
        if until is None:
            return self.error(400, "InvalidHeaderValue", "Header: x-ms-immutability-policy-until-date (RFC 1123 expected)")
        if until <= now:
            # "Past times are not valid."
            return self.error(400, "InvalidHeaderValue", "Header: x-ms-immutability-policy-until-date is in the past")
        raw_mode = self.headers.get("x-ms-immutability-policy-mode", "unlocked")
        mode = POLICY_MODES.get(raw_mode.strip().lower())
        if mode is None:
            # "Mutable" is only ever returned by the service, never set.
            return self.error(400, "InvalidHeaderValue", f"Header: x-ms-immutability-policy-mode={raw_mode!r} (Unlocked or Locked)")
        if current_active and current.get("mode") == "locked":
            # A locked policy can only be extended: it cannot be shortened nor go back to Unlocked.
            if mode != "locked":
                return self.error(409, "BlobImmutableDueToPolicy", "A locked immutability policy cannot be unlocked.")
            if until < current["until"]:
                return self.error(409, "BlobImmutableDueToPolicy", "A locked immutability policy cannot be shortened.")
        state.update(key, until=until, mode=mode)
        self.reply(200, {
            "x-ms-immutability-policy-until-date": http_date(until),
            "x-ms-immutability-policy-mode": mode,
        })

    def legal_hold(self, key) -> None:
        """Set Blob Legal Hold (learn.microsoft.com/rest/api/storageservices/set-blob-legal-hold)."""
        if not self.precheck(key):
            return
        raw = self.headers.get("x-ms-legal-hold")
        if raw is None:
            return self.error(400, "MissingRequiredHeader", "Header: x-ms-legal-hold")
        if raw.strip().lower() not in ("true", "false"):
            return self.error(400, "InvalidHeaderValue", "Header: x-ms-legal-hold (true or false)")
        hold = raw.strip().lower() == "true"
        self.server.state.update(key, legal_hold=hold)
        self.reply(200, {"x-ms-legal-hold": "true" if hold else "false"})

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10001)
    parser.add_argument("--upstream", default="127.0.0.1:10000", help="Azurite blob endpoint host:port")
    parser.add_argument("--capture", help="append one JSON line per received request (method, path, query, headers)")
    parser.add_argument("--account-key-env", default="WORM_STANDIN_ACCOUNT_KEY",
                        help="env var holding the devstoreaccount1 key (default: the public Azurite dev key)")
    parser.add_argument("--drop-lock-on-write", action="store_true",
                        help="ignore the policy and hold headers of Put Blob / Put Block List, as a store "
                             "without them does (Azurite): for tests of a client's explicit-request fallback")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    import os

    host, _, port = args.upstream.rpartition(":")
    server = Server((args.host, args.port), Handler)
    server.upstream = (host or "127.0.0.1", int(port))
    server.state = State()
    server.verbose = args.verbose
    server.capture_path = args.capture
    server.drop_lock_on_write = args.drop_lock_on_write
    server.capture_lock = threading.Lock()
    server.keys = {DEV_ACCOUNT: os.environ.get(args.account_key_env, DEV_KEY)}
    sys.stderr.write(f"worm-standin (TEST INFRASTRUCTURE, not a production target) on {args.host}:{args.port} -> {args.upstream}\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
