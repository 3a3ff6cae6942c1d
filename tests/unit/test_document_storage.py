"""The document storage's settings and its local tree, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from policyjobs.documents.moving import content_type
from policyjobs.documents.storage import LocalStorage, storage_for
from policyjobs.settings import Settings, bucket_of


@pytest.mark.parametrize(("url", "bucket", "prefix"), [
    ("s3://docs", "docs", ""), ("s3://docs/", "docs", ""),
    ("s3://my.docs-2/policy/jobs", "my.docs-2", "policy/jobs")])
def test_an_s3_url_names_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    assert bucket_of(url) == (bucket, prefix)
    assert Settings(documents_url=url).documents_url == url


@pytest.mark.parametrize(("url", "says"), [
    ("s3://", "'' is not a bucket name"), ("s3://ab", "'ab' is not a bucket name"),
    ("s3://Docs/x", "'Docs' is not a bucket name"), ("s3://-docs", "is not a bucket name"),
    ("s3://docs:9000/x", "nothing else"), ("s3://key:secret@docs/x", "nothing else"),
    ("s3://docs/x?region=eu", "nothing else"), ("s3://docs/a b", "is not a prefix"),
    ("s3://docs/../up", "is not a prefix"), ("gs://docs/x", "gs:// is not a storage"),
    ("https://example.com/docs", "https:// is not a storage")])
def test_a_documents_url_that_is_not_one_is_refused_saying_why(url: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(documents_url=url)
    assert says in str(refused.value)
    assert "secret" not in str(refused.value).replace(url, "")


def test_presigned_serving_needs_a_bucket() -> None:
    with pytest.raises(ValidationError, match="presigned URLs need a bucket"):
        Settings(documents_serve="presigned")
    with pytest.raises(ValidationError, match="presigned URLs need a bucket"):
        Settings(documents_url="/srv/documents", documents_serve="presigned")
    assert Settings(documents_url="s3://docs", documents_serve="presigned").documents_serve \
        == "presigned"


def test_the_default_storage_is_the_homes_folder_and_a_path_is_a_folder(tmp_path: Path) -> None:
    default = storage_for(None, tmp_path)
    assert isinstance(default, LocalStorage)
    assert default.root == (tmp_path / "documents").resolve()
    elsewhere = storage_for(str(tmp_path / "elsewhere"), tmp_path)
    assert isinstance(elsewhere, LocalStorage)
    assert elsewhere.root == (tmp_path / "elsewhere").resolve()


def test_a_local_trees_files_are_listed_in_key_order_without_those_being_written(
        tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    for key in ("t2/b.pdf", "t1/c.html", "t1/a.txt"):
        storage.put(key, key.encode(), content_type(key))
    (tmp_path / ".incoming" / "tmpx").write_bytes(b"half")
    (tmp_path / "t1" / "odd name.pdf").write_bytes(b"not ours")
    assert [key for key, _ in storage.files()] == ["t1/a.txt", "t1/c.html", "t2/b.pdf"]


def test_a_files_content_type_follows_its_extension() -> None:
    assert content_type("t/D.pdf") == "application/pdf"
    assert content_type("t/D.html") == "text/html; charset=utf-8"
    assert content_type("t/D.txt") == "text/plain; charset=utf-8"
    assert content_type("t/D.bin") == "application/octet-stream"
    assert content_type("t/D") == "application/octet-stream"
