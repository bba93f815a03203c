"""pipeline/storage.py: each binding type's dialect as plain functions (requests built, documented answers parsed),
local storage for real through ``docline sidecar``, and the deploy/ components agreeing with what the app sends."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from dapr.clients import DaprClient

from pipeline.settings import Settings
from pipeline.storage import (
    DIALECTS,
    ROOT_MARKER,
    S3,
    AzureBlob,
    BindingRequest,
    GcpBucket,
    ListPage,
    LocalStorage,
    StorageBinding,
    StorageError,
    all_pages,
    dialect_for,
)
from pipeline.store import BlobStore, sha256_hex
from tests.deploy.test_dapr import ENVIRONMENTS, components, metadata
from tests.support.components import StartSidecar

# The example answers of the `list` operation, as docs.dapr.io's binding pages show them (trimmed to the fields
# that matter plus a few neighbours, values as printed there).
S3_LIST_EXAMPLE = b"""{
    "CommonPrefixes": null,
    "Contents": [
        {
            "ETag": "\\"7e94cc9b0f5226557b05a7c2565dd09f\\"",
            "Key": "hpNdFUxruNuwm",
            "LastModified": "2021-08-16T06:44:14Z",
            "Owner": {"DisplayName": "owner name", "ID": "owner id"},
            "Size": 6916,
            "StorageClass": "STANDARD"
        }
    ],
    "Delimiter": "",
    "EncodingType": null,
    "IsTruncated": true,
    "Marker": "hvlcCQFSOD5TD",
    "MaxKeys": 1,
    "Name": "mybucketdapr",
    "NextMarker": "hzaUPWjmvyi9W",
    "Prefix": ""
}"""
AZURE_LIST_EXAMPLE = b"""[
  {
    "XMLName": {"Space": "", "Local": "Blob"},
    "Name": "file-08-07-2021-09-38-13-776-1.txt",
    "Deleted": false,
    "Snapshot": "",
    "Properties": {"ContentLength": 1, "ContentType": "application/octet-stream", "BlobType": "BlockBlob"},
    "Metadata": null
  }
]"""
AZURE_LIST_METADATA = {
    "marker": "2!108!MDAwMDM1IWZpbGUtMDgtMDctMjAyMS0wOS0zOC0zNC04NjctMTEudHh0IT"
    "AwMDAyOCE5OTk5LTEyLTMxVDIzOjU5OjU5Ljk5OTk5OTlaIQ--",
    "number": "10",
}
GCP_LIST_EXAMPLE = b"""[
  {"Bucket": "<your bucket>", "Name": "02WGzEdsUWNlQ", "ContentType": "image/png", "Size": 5187,
   "MD5": "aQdLBCYV0BxA51jUaxc3pQ==", "StorageClass": "STANDARD", "Prefix": "", "Etag": "CPf+mpK5/PICEAE="}
]"""

BINARY = b"%PDF-1.7\n\x00\xff\x89PNG binary"


# -- dialects as plain functions -------------------------------------------------------------------------------
def test_each_type_names_the_object_in_its_own_metadata_key() -> None:
    for dialect, key in ((LocalStorage(), "fileName"), (S3(), "key"), (AzureBlob(), "blobName"), (GcpBucket(), "key")):
        for request in (dialect.get("processed/a.pdf"), dialect.delete("processed/a.pdf")):
            assert request.metadata[key] == "processed/a.pdf", dialect.type
            assert request.data == b""
        created = dialect.create("processed/a.pdf", BINARY)
        assert created.operation == "create"
        assert created.metadata[key] == "processed/a.pdf"
        # Contents travel base64-encoded for every type.
        assert base64.b64decode(created.data) == BINARY


def test_s3_requests() -> None:
    s3 = S3()
    assert s3.create("sha256-ab", BINARY) == BindingRequest(
        "create", base64.b64encode(BINARY), {"key": "sha256-ab", "decodeBase64": "true"}
    )
    assert s3.get("sha256-ab") == BindingRequest("get", b"", {"key": "sha256-ab", "encodeBase64": "false"})
    assert s3.delete("sha256-ab") == BindingRequest("delete", b"", {"key": "sha256-ab"})
    # The binding unmarshals list data as JSON, so it is always sent (an empty body is not JSON).
    assert json.loads(s3.list("", None, 1000).data) == {"maxResults": 1000}
    assert json.loads(s3.list("failed/", "failed/b.pdf", 10).data) == {
        "maxResults": 10,
        "prefix": "failed/",
        "marker": "failed/b.pdf",
    }


def test_s3_list_answers() -> None:
    s3 = S3()
    assert s3.parse_list(S3_LIST_EXAMPLE, {}) == ListPage(["hpNdFUxruNuwm"], "hzaUPWjmvyi9W")
    answer = json.loads(S3_LIST_EXAMPLE)
    # Without a delimiter S3 sends no NextMarker: the last key is where the next page starts.
    answer["NextMarker"] = None
    answer["Contents"].append({"Key": "processed/z.pdf", "Size": 1})
    assert s3.parse_list(json.dumps(answer).encode(), {}) == ListPage(
        ["hpNdFUxruNuwm", "processed/z.pdf"], "processed/z.pdf"
    )
    answer["IsTruncated"] = False
    assert s3.parse_list(json.dumps(answer).encode(), {}).next_marker is None
    # An empty bucket: Contents is null.
    empty = {"CommonPrefixes": None, "Contents": None, "IsTruncated": False, "Name": "b", "Prefix": ""}
    assert s3.parse_list(json.dumps(empty).encode(), {}) == ListPage([])


def test_azure_requests_and_list_answer() -> None:
    azure = AzureBlob()
    # Nothing but blobName: the binding stores other request metadata as the blob's user metadata.
    assert azure.create("out/1.json", b"{}") == BindingRequest(
        "create", base64.b64encode(b"{}"), {"blobName": "out/1.json"}
    )
    assert json.loads(azure.list("p/", "m1", 50).data) == {"maxResults": 50, "prefix": "p/", "marker": "m1"}
    page = azure.parse_list(AZURE_LIST_EXAMPLE, AZURE_LIST_METADATA)
    assert page == ListPage(["file-08-07-2021-09-38-13-776-1.txt"], AZURE_LIST_METADATA["marker"])
    # The last page answers an empty marker.
    assert azure.parse_list(b"[]", {"marker": "", "number": "0"}) == ListPage([])
    assert azure.parse_list(b"null", {}) == ListPage([])


def test_gcp_requests_and_list_answer() -> None:
    gcp = GcpBucket()
    assert gcp.create("k", b"x").metadata == {"key": "k", "decodeBase64": "true"}
    assert gcp.get("k").metadata == {"key": "k", "encodeBase64": "false"}
    assert json.loads(gcp.list("in/", "ignored", 100).data) == {"maxResults": 100, "prefix": "in/"}
    assert gcp.parse_list(GCP_LIST_EXAMPLE, {}) == ListPage(["02WGzEdsUWNlQ"])


def test_localstorage_list_answers() -> None:
    local = LocalStorage()
    assert local.list("anything/", "m", 5) == BindingRequest("list", b"", {})
    assert local.parse_list(b"null", {}) == ListPage([])
    paths = ["/srv/inbox/a.pdf", f"/srv/inbox/{ROOT_MARKER}", "/srv/inbox/processed/b.pdf"]
    assert local.parse_list(json.dumps(paths).encode(), {}) == ListPage(paths)
    assert LocalStorage.root_from(paths) == "/srv/inbox/"
    assert LocalStorage.root_from([ROOT_MARKER]) == ""
    assert LocalStorage.root_from(["/srv/inbox/a.pdf"]) is None


@pytest.mark.parametrize(
    ("dialect", "answer"),
    [
        (S3(), b"<ListBucketResult/>"),
        (S3(), b"[]"),
        (S3(), b'{"Contents": [{"Size": 1}], "IsTruncated": false}'),
        (AzureBlob(), b'{"Name": "x"}'),
        (AzureBlob(), b'[{"name": "x"}]'),
        (GcpBucket(), b"[1, 2]"),
        (LocalStorage(), b'[{"name": "x"}]'),
    ],
)
def test_unexpected_list_answers_are_typed_errors(
    dialect: S3 | AzureBlob | GcpBucket | LocalStorage, answer: bytes
) -> None:
    with pytest.raises(StorageError):
        dialect.parse_list(answer, {})


def test_paging_follows_markers_until_the_last_page() -> None:
    s3 = S3()
    answers = {
        None: json.loads(S3_LIST_EXAMPLE),
        "hzaUPWjmvyi9W": {"Contents": [{"Key": "b"}, {"Key": "c"}], "IsTruncated": True},
        "c": {"Contents": [{"Key": "d"}], "IsTruncated": False},
    }
    asked: list[str | None] = []

    def fetch(marker: str | None) -> ListPage:
        asked.append(marker)
        return s3.parse_list(json.dumps(answers[marker]).encode(), {})

    assert list(all_pages(fetch)) == ["hpNdFUxruNuwm", "b", "c", "d"]
    assert asked == [None, "hzaUPWjmvyi9W", "c"]

    def stuck(marker: str | None) -> ListPage:
        return ListPage(["a"], "same")

    with pytest.raises(StorageError, match="same marker"):
        list(all_pages(stuck))


def test_unknown_component_types_are_refused_by_name() -> None:
    assert set(DIALECTS) == {
        "bindings.localstorage",
        "bindings.aws.s3",
        "bindings.azure.blobstorage",
        "bindings.gcp.bucket",
    }
    with pytest.raises(StorageError, match=r"bindings\.cron"):
        dialect_for("bindings.cron")


# -- local storage for real, through docline sidecar ----------------------------------------------------------
def _components(root: Path) -> str:
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: docline-inbox\nspec:\n"
        f"  type: bindings.localstorage\n  version: v1\n  metadata:\n    - name: rootPath\n      value: {root}\n"
        "---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: docline-inbox-scan\nspec:\n"
        "  type: bindings.cron\n  version: v1\n  metadata:\n    - name: schedule\n      value: '@every 1h'\n"
    )


def test_localstorage_through_the_sidecar(tmp_path: Path, component_sidecar: StartSidecar) -> None:
    root = tmp_path / "inbox"
    component_sidecar(_components(root))
    with DaprClient() as client:
        files = StorageBinding(client, "docline-inbox")
        assert files.dialect.type == "bindings.localstorage"
        assert files.list() == []
        files.create("scan.pdf", BINARY)
        # Text that happens to be valid base64 is stored as it is, not decoded.
        files.create("processed/note.txt", b"SGVsbG8=")
        assert (root / "scan.pdf").read_bytes() == BINARY
        assert (root / "processed" / "note.txt").read_bytes() == b"SGVsbG8="
        assert files.get("scan.pdf") == BINARY
        assert files.list() == ["processed/note.txt", "scan.pdf"]
        assert files.list("processed/") == ["processed/note.txt"]
        # A second binding object (another replica) finds the same root.
        assert StorageBinding(client, "docline-inbox").list() == ["processed/note.txt", "scan.pdf"]
        files.delete("scan.pdf")
        assert files.list() == ["processed/note.txt"]

        with pytest.raises(StorageError, match="no component named 'docline-blobs'"):
            StorageBinding(client, "docline-blobs").get("x")
        with pytest.raises(StorageError, match=r"bindings\.cron"):
            StorageBinding(client, "docline-inbox-scan").create("x", b"x")


def test_large_blobs_are_stored_in_parts_and_read_back_whole(tmp_path: Path, component_sidecar: StartSidecar) -> None:
    root = tmp_path / "inbox"
    component_sidecar(_components(root))
    data = bytes(range(256)) * 41  # 10,496 bytes: three parts of 4,096
    with DaprClient() as client:
        blobs = BlobStore(client, "docline-inbox", part_bytes=4096)
        key = blobs.put(data)
        assert key == f"sha256-{sha256_hex(data)}-x3"
        parts = sorted(p.name for p in root.iterdir() if p.name.startswith("sha256-"))
        assert parts == [f"{key}-{i}" for i in range(3)]
        assert max(p.stat().st_size for p in root.iterdir()) <= 4096
        assert blobs.get(key) == data
        assert blobs.put(data) == key  # the same bytes, the same key (idempotent)
        small = blobs.put(b"small")
        assert small == f"sha256-{sha256_hex(b'small')}"
        assert blobs.get(small) == b"small"
        blobs.delete(key)
        assert not any(p.name.startswith(key) for p in root.iterdir())


# -- the components deploy/ ships agree with what the app sends -----------------------------------------------
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_deploy_storage_components_speak_a_dialect_the_app_knows(environment: str) -> None:
    settings = Settings()
    found = components(environment)
    for name in (settings.blob_binding, settings.outbox_binding, settings.inbox_binding):
        component = found[name]
        kind = component["spec"]["type"]
        assert kind in DIALECTS, f"{environment}/{name}: {kind}"
        fields = {k: str(v.get("value", "")) for k, v in metadata(component).items()}
        if kind in ("bindings.aws.s3", "bindings.azure.blobstorage", "bindings.gcp.bucket"):
            # Contents are sent base64-encoded: the store must decode them (Azure only reads the component's setting).
            assert fields.get("decodeBase64") == "true", f"{environment}/{name}"
            assert fields.get("encodeBase64", "false") == "false", f"{environment}/{name}"
