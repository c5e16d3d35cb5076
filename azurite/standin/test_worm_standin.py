"""Tests of the Azure WORM stand-in (test infrastructure) against the Azure Blob REST docs.

Each test starts its own stand-in on a free port in front of the Azurite given by
WORMVAULT_AZURITE_ENDPOINT (default http://127.0.0.1:10000/devstoreaccount1) and talks raw HTTP,
signed with Shared Key, so nothing here depends on an SDK. Run directly
(`python3 azurite/standin/test_worm_standin.py`) or through `cargo test --test it azure::`.

Doc sections cited:
  [SBIP] Set Blob Immutability Policy  learn.microsoft.com/rest/api/storageservices/set-blob-immutability-policy
  [DBIP] Delete Blob Immutability Policy .../delete-blob-immutability-policy
  [SBLH] Set Blob Legal Hold            .../set-blob-legal-hold
  [ERR]  Blob Storage error codes       .../blob-service-error-codes
  [GCP]  Get Container Properties       .../get-container-properties
  [OVW]  Immutable storage overview     learn.microsoft.com/azure/storage/blobs/immutable-storage-overview
  [SK]   Authorize with Shared Key      .../authorize-with-shared-key
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import os
import sys
import threading
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worm_standin as ws  # noqa: E402

AZURITE = os.environ.get("WORMVAULT_AZURITE_ENDPOINT", "http://127.0.0.1:10000/devstoreaccount1")
ACCOUNT = ws.DEV_ACCOUNT
VERSION = "2021-10-04"


def now():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Client:
    """Minimal Shared Key client (stdlib) for one host:port."""

    def __init__(self, host, port):
        self.host, self.port = host, port

    def request(self, method, path, query="", headers=None, body=b"", key=ws.DEV_KEY):
        headers = dict(headers or {})
        headers.setdefault("x-ms-version", VERSION)
        headers["x-ms-date"] = ws.http_date(dt.datetime.now(dt.timezone.utc))
        if body or method in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        sts = ws.string_to_sign(method, ACCOUNT, path, query, headers)
        headers["Authorization"] = f"SharedKey {ACCOUNT}:{ws.sign(key, sts)}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path + ("?" + query if query else ""), body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()


def start_standin():
    upstream = urllib.parse.urlsplit(AZURITE)
    server = ws.Server(("127.0.0.1", 0), ws.Handler)
    server.upstream = (upstream.hostname, upstream.port or 80)
    server.state = ws.State()
    server.verbose = False
    server.capture_path = None
    server.capture_lock = threading.Lock()
    server.keys = {ACCOUNT: ws.DEV_KEY}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class SignatureVector(unittest.TestCase):
    def test_matches_python_sdk_signature(self):
        """[SK] string-to-sign; the expected signature was computed once with the official Python
        SDK's SharedKeyCredentialPolicy (azure-storage-blob 12.31.1) for the same request. The
        Rust signer in src/store/azure/shared_key.rs is checked against the same vector."""
        headers = {
            "x-ms-version": "2021-10-04",
            "x-ms-date": "Sun, 22 Nov 2026 07:00:00 GMT",
            "x-ms-immutability-policy-until-date": "Fri, 20 Nov 2033 07:00:00 GMT",
            "x-ms-immutability-policy-mode": "Locked",
            "Content-Length": "0",
        }
        sts = ws.string_to_sign("PUT", ACCOUNT, "/devstoreaccount1/evidence/s1/a%20b.json", "comp=immutabilityPolicies", headers)
        self.assertTrue(sts.endswith("\n/devstoreaccount1/devstoreaccount1/evidence/s1/a%20b.json\ncomp:immutabilityPolicies"))
        self.assertEqual(ws.sign(ws.DEV_KEY, sts), "UIgixVK/9dJExTBaYil2Kh1GmwavzHDFtMHumF4UVFk=")


class StandIn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        u = urllib.parse.urlsplit(AZURITE)
        try:
            http.client.HTTPConnection(u.hostname, u.port or 80, timeout=3).connect()
        except OSError as err:
            raise unittest.SkipTest(f"Azurite not reachable at {AZURITE}: {err}") if os.environ.get("CI") != "true" else AssertionError(f"CI=true and Azurite not reachable at {AZURITE}: {err}")
        cls.server = start_standin()
        cls.c = Client("127.0.0.1", cls.server.server_address[1])
        cls.direct = Client(u.hostname, u.port or 80)
        cls.container = "standin-" + uuid.uuid4().hex[:12]
        status, _, body = cls.c.request("PUT", f"/{ACCOUNT}/{cls.container}", "restype=container")
        assert status == 201, (status, body)

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def blob(self, data=b"evidence bytes"):
        name = f"/{ACCOUNT}/{self.container}/b-{uuid.uuid4().hex[:10]}.bin"
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        status, headers, body = self.c.request("PUT", name, headers={"x-ms-blob-type": "BlockBlob", "Content-MD5": md5}, body=data)
        self.assertEqual(status, 201, body)
        return name

    def set_policy(self, name, until, mode=None):
        headers = {"x-ms-immutability-policy-until-date": ws.http_date(until)}
        if mode:
            headers["x-ms-immutability-policy-mode"] = mode
        return self.c.request("PUT", name, "comp=immutabilityPolicies", headers)

    # --- forwarding ---

    def test_forwards_signed_requests_unchanged(self):
        """[SK] The signature covers /account/path, not host:port: a request signed for the
        stand-in is accepted by Azurite behind it, and the bytes round-trip."""
        name = self.blob(b"round trip")
        status, headers, body = self.c.request("GET", name)
        self.assertEqual((status, body), (200, b"round trip"))
        self.assertEqual(headers["content-md5"], base64.b64encode(hashlib.md5(b"round trip").digest()).decode())
        # A wrong key is refused by Azurite (403), proving the proxy does not re-sign.
        status, _, _ = self.c.request("GET", name, key=base64.b64encode(b"x" * 64).decode())
        self.assertEqual(status, 403)

    def test_forwards_lowercase_content_length_once(self):
        """Header names are case-insensitive: a client sending `content-length` (reqwest does)
        must not reach Azurite with two Content-Length headers (Node answers a bare 400)."""
        name = f"/{ACCOUNT}/{self.container}/lower-{uuid.uuid4().hex[:8]}"
        headers = {"x-ms-version": VERSION, "x-ms-date": ws.http_date(dt.datetime.now(dt.timezone.utc)),
                   "x-ms-blob-type": "BlockBlob", "content-length": "5"}
        headers["authorization"] = f"SharedKey {ACCOUNT}:" + ws.sign(ws.DEV_KEY, ws.string_to_sign("PUT", ACCOUNT, name, "", headers))
        conn = http.client.HTTPConnection("127.0.0.1", self.server.server_address[1], timeout=30)
        conn.request("PUT", name, body=b"lower", headers=headers)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        self.assertEqual(resp.status, 201)

    def test_container_claims_version_level_immutability_only_via_documented_header(self):
        """[GCP] x-ms-immutable-storage-with-versioning-enabled (2020-06-12+)."""
        status, headers, _ = self.c.request("HEAD", f"/{ACCOUNT}/{self.container}", "restype=container")
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-ms-immutable-storage-with-versioning-enabled"], "true")
        status, headers, _ = self.direct.request("HEAD", f"/{ACCOUNT}/{self.container}", "restype=container")
        self.assertEqual(status, 200)
        self.assertNotEqual(headers.get("x-ms-immutable-storage-with-versioning-enabled"), "true")

    # --- Set Blob Immutability Policy ---

    def test_set_policy_returns_200_and_headers_and_keeps_etag(self):
        """[SBIP] 200 OK; response carries x-ms-immutability-policy-until-date and -mode; "This
        operation doesn't update the blob's ETag"; Get Blob Properties reports the policy."""
        name = self.blob()
        _, before, _ = self.c.request("HEAD", name)
        until = now() + dt.timedelta(days=2555)
        status, headers, body = self.set_policy(name, until, "Locked")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["x-ms-immutability-policy-until-date"], ws.http_date(until))
        self.assertEqual(headers["x-ms-immutability-policy-mode"], "locked")
        self.assertIn("x-ms-request-id", headers)
        status, after, _ = self.c.request("HEAD", name)
        self.assertEqual(status, 200)
        self.assertEqual(after["etag"], before["etag"])
        self.assertEqual(after["x-ms-immutability-policy-until-date"], ws.http_date(until))
        self.assertEqual(after["x-ms-immutability-policy-mode"], "locked")
        self.assertEqual(after["x-ms-legal-hold"], "false")
        # A GET (Get Blob) carries the same headers.
        _, got, _ = self.c.request("GET", name)
        self.assertEqual(got["x-ms-immutability-policy-mode"], "locked")

    def test_set_policy_rejects_bad_input(self):
        """[SBIP] until-date is required, RFC 1123, "Past times are not valid"; mode is
        Unlocked or Locked ("Mutable" is only returned by the service)."""
        name = self.blob()
        status, headers, _ = self.c.request("PUT", name, "comp=immutabilityPolicies")
        self.assertEqual((status, headers["x-ms-error-code"]), (400, "MissingRequiredHeader"))
        status, headers, _ = self.c.request("PUT", name, "comp=immutabilityPolicies", {"x-ms-immutability-policy-until-date": "2033-01-01"})
        self.assertEqual((status, headers["x-ms-error-code"]), (400, "InvalidHeaderValue"))
        status, headers, _ = self.set_policy(name, now() - dt.timedelta(days=1), "Locked")
        self.assertEqual((status, headers["x-ms-error-code"]), (400, "InvalidHeaderValue"))
        status, headers, _ = self.set_policy(name, now() + dt.timedelta(days=1), "Mutable")
        self.assertEqual((status, headers["x-ms-error-code"]), (400, "InvalidHeaderValue"))
        # Nothing was stored by the refused calls: the blob is still deletable.
        status, _, _ = self.c.request("DELETE", name)
        self.assertEqual(status, 202)

    def test_missing_blob_is_404(self):
        status, headers, _ = self.set_policy(f"/{ACCOUNT}/{self.container}/absent", now() + dt.timedelta(days=1))
        self.assertEqual((status, headers["x-ms-error-code"]), (404, "BlobNotFound"))
        status, headers, _ = self.c.request("PUT", f"/{ACCOUNT}/{self.container}/absent", "comp=legalhold", {"x-ms-legal-hold": "true"})
        self.assertEqual((status, headers["x-ms-error-code"]), (404, "BlobNotFound"))

    def test_bad_signature_is_refused(self):
        name = self.blob()
        headers = {"x-ms-immutability-policy-until-date": ws.http_date(now() + dt.timedelta(days=1))}
        status, headers, _ = self.c.request("PUT", name, "comp=immutabilityPolicies", headers, key=base64.b64encode(b"y" * 64).decode())
        self.assertEqual((status, headers["x-ms-error-code"]), (403, "AuthenticationFailed"))

    def test_locked_policy_refuses_delete_overwrite_shortening_unlocking(self):
        """[OVW] a locked time-based policy: the blob cannot be deleted or changed, the policy can
        only be extended, never shortened, unlocked or deleted. [ERR] 409 BlobImmutableDueToPolicy;
        Delete Immutability Policy on a locked policy -> 409 ImmutabilityPolicyDeleteOnLockedPolicy."""
        name = self.blob()
        until = now() + dt.timedelta(days=30)
        self.assertEqual(self.set_policy(name, until, "Locked")[0], 200)
        refused = [
            ("DELETE", "", {}, b""),
            ("PUT", "", {"x-ms-blob-type": "BlockBlob"}, b"overwrite"),
            ("PUT", "comp=metadata", {"x-ms-meta-x": "y"}, b""),
            ("PUT", "comp=properties", {"x-ms-blob-content-type": "text/plain"}, b""),
            ("PUT", "comp=blocklist", {}, b'<?xml version="1.0" encoding="utf-8"?><BlockList></BlockList>'),
            ("PUT", "", {"x-ms-copy-source": "http://127.0.0.1/devstoreaccount1/x/y"}, b""),
        ]
        for method, query, headers, body in refused:
            status, rh, _ = self.c.request(method, name, query, headers, body)
            self.assertEqual((status, rh.get("x-ms-error-code")), (409, "BlobImmutableDueToPolicy"), (method, query))
        status, rh, _ = self.set_policy(name, until - dt.timedelta(days=1), "Locked")
        self.assertEqual((status, rh["x-ms-error-code"]), (409, "BlobImmutableDueToPolicy"))
        status, rh, _ = self.set_policy(name, until + dt.timedelta(days=1), "Unlocked")
        self.assertEqual((status, rh["x-ms-error-code"]), (409, "BlobImmutableDueToPolicy"))
        status, rh, _ = self.c.request("DELETE", name, "comp=immutabilityPolicies")
        self.assertEqual((status, rh["x-ms-error-code"]), (409, "ImmutabilityPolicyDeleteOnLockedPolicy"))
        # Extending is allowed.
        status, rh, _ = self.set_policy(name, until + dt.timedelta(days=5), "Locked")
        self.assertEqual(status, 200)
        _, props, data = self.c.request("GET", name)
        self.assertEqual(data, b"evidence bytes")
        self.assertEqual(props["x-ms-immutability-policy-until-date"], ws.http_date(until + dt.timedelta(days=5)))
        # Reads and index tags stay allowed [OVW].
        status, _, _ = self.c.request("PUT", name, "comp=tags", {"Content-Type": "application/xml"},
                                      b'<?xml version="1.0" encoding="utf-8"?><Tags><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tags>')
        self.assertEqual(status, 204)

    def test_unlocked_policy_can_be_shortened_locked_or_deleted(self):
        """[OVW]/[DBIP] an unlocked policy can be changed or deleted; it still protects while
        active; mode can go Unlocked -> Locked."""
        name = self.blob()
        self.assertEqual(self.set_policy(name, now() + dt.timedelta(days=10), "Unlocked")[0], 200)
        status, rh, _ = self.c.request("DELETE", name)
        self.assertEqual((status, rh["x-ms-error-code"]), (409, "BlobImmutableDueToPolicy"))
        self.assertEqual(self.set_policy(name, now() + dt.timedelta(days=2))[0], 200)  # shorten, default mode Unlocked
        _, props, _ = self.c.request("HEAD", name)
        self.assertEqual(props["x-ms-immutability-policy-mode"], "unlocked")
        status, _, _ = self.c.request("DELETE", name, "comp=immutabilityPolicies")
        self.assertEqual(status, 200)
        _, props, _ = self.c.request("HEAD", name)
        self.assertNotIn("x-ms-immutability-policy-until-date", props)
        status, _, _ = self.c.request("DELETE", name)
        self.assertEqual(status, 202)
        other = self.blob()
        self.assertEqual(self.set_policy(other, now() + dt.timedelta(days=3), "Unlocked")[0], 200)
        status, rh, _ = self.set_policy(other, now() + dt.timedelta(days=3), "locked")  # any case in
        self.assertEqual((status, rh["x-ms-immutability-policy-mode"]), (200, "locked"))  # lowercase out
        status, rh, _ = self.c.request("DELETE", other, "comp=immutabilityPolicies")
        self.assertEqual((status, rh["x-ms-error-code"]), (409, "ImmutabilityPolicyDeleteOnLockedPolicy"))

    # --- Set Blob Legal Hold ---

    def test_legal_hold_set_and_release(self):
        """[SBLH] 200 OK with x-ms-legal-hold; value must be true/false. [ERR] 409
        BlobImmutableDueToLegalHold while held."""
        name = self.blob()
        status, rh, _ = self.c.request("PUT", name, "comp=legalhold")
        self.assertEqual((status, rh["x-ms-error-code"]), (400, "MissingRequiredHeader"))
        status, rh, _ = self.c.request("PUT", name, "comp=legalhold", {"x-ms-legal-hold": "yes"})
        self.assertEqual((status, rh["x-ms-error-code"]), (400, "InvalidHeaderValue"))
        status, rh, _ = self.c.request("PUT", name, "comp=legalhold", {"x-ms-legal-hold": "true"})
        self.assertEqual((status, rh["x-ms-legal-hold"]), (200, "true"))
        _, props, _ = self.c.request("HEAD", name)
        self.assertEqual(props["x-ms-legal-hold"], "true")
        self.assertNotIn("x-ms-immutability-policy-mode", props)
        status, rh, _ = self.c.request("DELETE", name)
        self.assertEqual((status, rh["x-ms-error-code"]), (409, "BlobImmutableDueToLegalHold"))
        status, rh, _ = self.c.request("PUT", name, "comp=legalhold", {"x-ms-legal-hold": "false"})
        self.assertEqual((status, rh["x-ms-legal-hold"]), (200, "false"))
        status, _, _ = self.c.request("DELETE", name)
        self.assertEqual(status, 202)

    # --- policy and hold given with the content (Put Blob) ---

    def test_put_blob_applies_the_policy_and_hold_it_carries(self):
        """[PB] Put Blob (version 2020-06-12+) takes x-ms-immutability-policy-until-date,
        x-ms-immutability-policy-mode and x-ms-legal-hold: the blob is written locked (and held);
        an invalid value is a 400 and nothing is written."""
        name = f"/{ACCOUNT}/{self.container}/pb-{uuid.uuid4().hex[:10]}.bin"
        until = now() + dt.timedelta(days=2)
        bad = {"x-ms-blob-type": "BlockBlob", "x-ms-immutability-policy-until-date": "2033-01-01"}
        status, rh, _ = self.c.request("PUT", name, headers=bad, body=b"x")
        self.assertEqual((status, rh["x-ms-error-code"]), (400, "InvalidHeaderValue"))
        self.assertEqual(self.c.request("HEAD", name)[0], 404)
        headers = {
            "x-ms-blob-type": "BlockBlob",
            "x-ms-immutability-policy-until-date": ws.http_date(until),
            "x-ms-immutability-policy-mode": "Locked",
            "x-ms-legal-hold": "true",
        }
        status, _, body = self.c.request("PUT", name, headers=headers, body=b"locked on arrival")
        self.assertEqual(status, 201, body)
        _, props, _ = self.c.request("HEAD", name)
        self.assertEqual(props["x-ms-immutability-policy-until-date"], ws.http_date(until))
        self.assertEqual(props["x-ms-immutability-policy-mode"], "locked")
        self.assertEqual(props["x-ms-legal-hold"], "true")
        status, rh, _ = self.c.request("DELETE", name)
        self.assertEqual((status, rh["x-ms-error-code"]), (409, "BlobImmutableDueToLegalHold"))
        # A second Put Blob of the name is refused by the lock, as any change to it is.
        status, rh, _ = self.c.request("PUT", name, headers={"x-ms-blob-type": "BlockBlob"}, body=b"other")
        self.assertEqual((status, rh["x-ms-error-code"]), (409, "BlobImmutableDueToLegalHold"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
