"""Loaded by every process of a fault-test stack (its PYTHONPATH): S3 refuses one tenant's objects on demand.

A stand-in for what moto cannot do: a tenant whose KMS key is disabled (or whose objects S3 refuses
for any other reason) gets `AccessDenied` on every read of its landing objects, as S3 answers for
SSE-KMS objects whose key is unusable. The tenants to fail are read, on each call, from the file
named by AIRLOCK_TEST_STORAGE_FAULTS (one tenant id per line), so a test turns the fault on and
off while the stack runs. Listing stays allowed, as it does on S3 when only the key is disabled.
"""

import contextlib
import os
from pathlib import Path

_FAULTS = os.environ.get("AIRLOCK_TEST_STORAGE_FAULTS")
_OPERATIONS = {"GetObject", "CopyObject", "HeadObject"}


def _failing_tenants() -> set[str]:
    try:
        return {line.strip() for line in Path(_FAULTS).read_text().splitlines() if line.strip()}
    except OSError:
        return set()


def _refuse(model, params, **_kwargs):
    if model.name not in _OPERATIONS:
        return
    key = params.get("Key") or ""
    source = params.get("CopySource")
    if isinstance(source, dict):
        key = source.get("Key") or key
    elif isinstance(source, str):
        key = source.split("/", 1)[-1]
    tenant = key.split("/", 1)[0]
    if tenant and tenant in _failing_tenants() and "landing" in str(params.get("Bucket", "")) + str(source):
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": f"KMS key of tenant {tenant} is disabled (test fault)"}},
            model.name,
        )


def _install():
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self, service_name, *args, **kwargs):
        client = original(self, service_name, *args, **kwargs)
        if service_name == "s3":
            client.meta.events.register("provide-client-params.s3", _refuse)
        return client

    botocore.session.Session.create_client = create_client


if _FAULTS:
    with contextlib.suppress(ImportError):  # a process without botocore has nothing to fail
        _install()
