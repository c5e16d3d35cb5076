"""Reference requests from the official Azure Python SDK (azure-storage-blob), for the
wire-conformance test in tests/it/azure.rs: upload a blob, set a Locked immutability policy, set and
release a legal hold — through the WORM stand-in started with --capture.

usage: sdk_ops.py <endpoint> <container> <blob> <until RFC 3339> <api_version>
"""
import datetime as dt
import sys

from azure.storage.blob import BlobServiceClient, ImmutabilityPolicy

DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

endpoint, container, blob, until, api_version = sys.argv[1:6]
service = BlobServiceClient(endpoint, credential={"account_name": "devstoreaccount1", "account_key": DEV_KEY}, api_version=api_version)
client = service.get_blob_client(container, blob)
client.upload_blob(b"reference", overwrite=False)
expiry = dt.datetime.fromisoformat(until.replace("Z", "+00:00"))
client.set_immutability_policy(ImmutabilityPolicy(expiry_time=expiry, policy_mode="Locked"))
client.set_legal_hold(True)
client.set_legal_hold(False)
print("ok")
