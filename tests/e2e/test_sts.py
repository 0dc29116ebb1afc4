"""STS on the one port: GetCallerIdentity as boto3, the aws CLI, Ansible's
amazon.aws and Terraform's AWS provider call it (SigV4 scope `sts`)."""

import json
import subprocess
import urllib.parse

import pytest

from conftest import Creds, error_code, make_client, signed_request, xml_error_code


def test_boto3_get_caller_identity(server, admin_creds, admin_cli, ec2):
    identity = make_client(server, "sts", admin_creds).get_caller_identity()
    account = identity["Account"]
    assert len(account) == 12 and account.isdigit()
    # The account ID Skyport reports everywhere else (OwnerId).
    owner = ec2.describe_security_groups()["SecurityGroups"][0]["OwnerId"]
    assert account == owner
    assert identity["Arn"] == f"arn:aws:iam::{account}:user/admin"
    assert identity["UserId"].startswith("AIDA") and len(identity["UserId"]) == 21

    other = admin_cli.new_tenant_with_key("sts")
    theirs = make_client(server, "sts", other).get_caller_identity()
    assert theirs["Account"] != account
    assert theirs["UserId"] != identity["UserId"]


def test_aws_cli_get_caller_identity(aws_cli_path, aws_env, server, admin_creds):
    cp = subprocess.run([aws_cli_path, "--profile", "skyport", "--endpoint-url", server.url,
                         "sts", "get-caller-identity", "--output", "json"],
                        env=aws_env, capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    identity = json.loads(cp.stdout)
    assert identity["Arn"].startswith("arn:aws:iam::") and identity["Arn"].endswith(":user/admin")


def test_sts_errors_in_sts_shape(server, admin_creds):
    def sts(body: str, creds: Creds = admin_creds):
        return signed_request(server, creds, service="sts", data=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})

    unknown = sts("Action=AssumeRole&Version=2011-06-15&RoleArn=x&RoleSessionName=y")
    assert unknown.status_code == 400
    assert xml_error_code(unknown.content) == "InvalidAction"
    assert b"<ErrorResponse" in unknown.content and b"<Type>Sender</Type>" in unknown.content
    stranger = Creds("AKIDOESNOTEXIST00000", "nope")
    refused = sts("Action=GetCallerIdentity&Version=2011-06-15", stranger)
    assert refused.status_code == 403
    assert xml_error_code(refused.content) == "InvalidClientTokenId"
    with pytest.raises(Exception) as e:
        make_client(server, "sts", Creds(admin_creds.access_key, "wrong-secret")).get_caller_identity()
    assert error_code(e.value) == "SignatureDoesNotMatch"
    # A signed GET with the action in its query is STS too.
    query = urllib.parse.urlencode({"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    presigned = signed_request(server, admin_creds, "GET", f"/?{query}", service="sts")
    assert presigned.status_code == 200 and b"<GetCallerIdentityResult>" in presigned.content
