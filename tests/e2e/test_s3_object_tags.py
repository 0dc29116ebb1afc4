"""Object tagging: round trips, invalid tag sets refused without change, copies
and multipart uploads, tags per version."""

from __future__ import annotations

import pytest

from conftest import error_code, http_status
from s3_objects_common import client_error, assert_error, assert_missing


def tag_dict(s3, bucket, key, **kw) -> dict:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]}


def test_object_tags_round_trip(s3, bucket):
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"x", Tagging="team=e2e&env=test%20env&empty=")
    assert tag_dict(s3, bucket, "tagged") == {"team": "e2e", "env": "test env", "empty": ""}
    assert s3.get_object(Bucket=bucket, Key="tagged")["TagCount"] == 3
    # Replaced whole, not merged; the body and its ETag stay.
    etag = s3.head_object(Bucket=bucket, Key="tagged")["ETag"]
    s3.put_object_tagging(Bucket=bucket, Key="tagged",
                          Tagging={"TagSet": [{"Key": "owner", "Value": "ops"}]})
    assert tag_dict(s3, bucket, "tagged") == {"owner": "ops"}
    assert s3.head_object(Bucket=bucket, Key="tagged")["ETag"] == etag
    s3.delete_object_tagging(Bucket=bucket, Key="tagged")
    assert tag_dict(s3, bucket, "tagged") == {}
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="tagged")
    # A new PUT without tags leaves none behind.
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"y", Tagging="a=1")
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"z")
    assert tag_dict(s3, bucket, "tagged") == {}
    assert_error(client_error(s3.get_object_tagging, Bucket=bucket, Key="missing"), "NoSuchKey", 404)
    assert_error(client_error(s3.put_object_tagging, Bucket=bucket, Key="missing",
                              Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}), "NoSuchKey", 404)


@pytest.mark.parametrize("tag_set", [
    [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
    [{"Key": "k" * 129, "Value": "v"}],
    [{"Key": "k", "Value": "v" * 257}],
    [{"Key": f"k{i}", "Value": "v"} for i in range(11)],
])
def test_invalid_object_tags_are_refused_and_change_nothing(s3, bucket, tag_set):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="keep=me")
    exc = client_error(s3.put_object_tagging, Bucket=bucket, Key="t", Tagging={"TagSet": tag_set})
    assert http_status(exc) == 400 and error_code(exc) in {"InvalidTag", "BadRequest"}, exc.response
    assert tag_dict(s3, bucket, "t") == {"keep": "me"}
    header = "&".join(f"{t['Key']}={t['Value']}" for t in tag_set)
    exc = client_error(s3.put_object, Bucket=bucket, Key="t2", Body=b"x", Tagging=header)
    assert http_status(exc) == 400, exc.response
    assert_missing(s3, bucket, "t2")


def test_copies_keep_or_replace_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="from=source")
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "src"})
    assert tag_dict(s3, bucket, "kept") == {"from": "source"}
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE", Tagging="from=copy")
    assert tag_dict(s3, bucket, "replaced") == {"from": "copy"}


def test_multipart_upload_tags_its_object(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="kind=multipart")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 1024)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert tag_dict(s3, bucket, "mp") == {"kind": "multipart"}


def test_each_version_has_its_own_tags(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"1", Tagging="gen=1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="v", Body=b"2", Tagging="gen=2")["VersionId"]
    assert tag_dict(s3, bucket, "v") == {"gen": "2"}
    assert tag_dict(s3, bucket, "v", VersionId=v1) == {"gen": "1"}
    out = s3.put_object_tagging(Bucket=bucket, Key="v", VersionId=v1,
                                Tagging={"TagSet": [{"Key": "gen", "Value": "one"}]})
    assert out["VersionId"] == v1
    assert tag_dict(s3, bucket, "v", VersionId=v1) == {"gen": "one"}
    assert tag_dict(s3, bucket, "v", VersionId=v2) == {"gen": "2"}
    marker = s3.delete_object(Bucket=bucket, Key="v")["VersionId"]
    assert_error(client_error(s3.get_object_tagging, Bucket=bucket, Key="v", VersionId=marker),
                 "MethodNotAllowed", 405)
    assert_error(client_error(s3.get_object_tagging, Bucket=bucket, Key="v", VersionId="nope"),
                 "NoSuchVersion", 404)
    # Restoring v2 by deleting the marker brings its tags back with it.
    s3.delete_object(Bucket=bucket, Key="v", VersionId=marker)
    assert tag_dict(s3, bucket, "v") == {"gen": "2"}
