"""S3 replication into the DR region (``dr.replicate_buckets``: all three in reference, none in dev): each
named bucket of the primary region into a copy of its own, SSE-KMS replicas under the DR region's key,
a least-privilege role per source, and copies as private, versioned and TLS-only as their sources."""

from __future__ import annotations

from typing import Any

import pytest

from components.bucket_replication import REPLICATION_RULE_ID
from config import SettingsError, load_settings
from tests.conftest import Synthesized, cdk_json_context
from tests.templates import render, resources

# Source (stack role, bucket logical id prefix) -> the copy's construct id in the DrReplicas stack.
SOURCES = {
    ("eks", "FileStorage"): "MendixFiles",
    ("audit", "TrailBucket"): "Trail",
    ("network", "AccessLogs"): "NetworkAccessLogs",
    ("app_tier", "WebAccessLogs"): "AppTierAccessLogs",
    ("audit", "AccessLogs"): "AuditAccessLogs",
    ("eks", "AccessLogs"): "EksAccessLogs",
}
KMS_SOURCES = {("eks", "FileStorage"): "PlatformKey", ("audit", "TrailBucket"): "TrailKey"}


def _bucket(template: dict[str, Any], prefix: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, r) for k, r in resources(template, "AWS::S3::Bucket").items() if k[:-8] == prefix]
    return found


def _copy_name(reference: Synthesized, copy: str) -> str:
    return str(_bucket(reference.template_json("dr_replicas"), copy)[1]["Properties"]["BucketName"])


def test_dev_replicates_no_bucket(dev: Synthesized) -> None:
    assert dev.settings.dr is not None and dev.settings.dr.replicate_buckets == ()
    assert "dr_replicas" not in dev.stacks
    for role in ("eks", "audit", "network", "app_tier"):
        for bucket in resources(dev.template_json(role), "AWS::S3::Bucket").values():
            assert "ReplicationConfiguration" not in bucket["Properties"]


def test_the_copies_live_in_the_dr_region_before_their_sources(reference: Synthesized) -> None:
    s = reference.settings
    assert s.dr is not None and set(s.dr.replicate_buckets) == {"mendix_files", "trail", "access_logs"}
    copies = reference.stacks["dr_replicas"]
    assert copies.region == s.dr.region
    for role in {role for role, _ in SOURCES}:
        assert copies.artifact_id in reference.manifest["artifacts"][reference.stacks[role].artifact_id]["dependencies"]


@pytest.mark.parametrize(("source", "copy"), list(SOURCES.items()), ids=[c for c in SOURCES.values()])
def test_each_bucket_replicates_all_of_itself_into_its_own_copy(
    reference: Synthesized, source: tuple[str, str], copy: str
) -> None:
    role, prefix = source
    _, bucket = _bucket(reference.template_json(role), prefix)
    p = bucket["Properties"]
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}  # replication requires it
    (rule,) = p["ReplicationConfiguration"]["Rules"]
    assert rule["Id"] == REPLICATION_RULE_ID and rule["Status"] == "Enabled" and rule["Priority"] == 1
    # The whole bucket; a deletion in the primary region deletes nothing in the copy.
    assert rule["Filter"] == {"Prefix": ""}
    assert rule["DeleteMarkerReplication"] == {"Status": "Disabled"}
    destination = rule["Destination"]
    assert render(destination["Bucket"]) == f"arn:<Ref:AWS::Partition>:s3:::{_copy_name(reference, copy)}"
    if source in KMS_SOURCES:
        assert rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
        (key,) = resources(reference.template_json("dr_replicas"), "AWS::KMS::Key")
        assert reference.local(destination["EncryptionConfiguration"]["ReplicaKmsKeyID"]) == {"Fn::GetAtt": [key, "Arn"]}
    else:
        # An SSE-S3 source (log delivery writes nothing else): its replicas keep SSE-S3.
        assert "SourceSelectionCriteria" not in rule and "EncryptionConfiguration" not in destination
    role_id = p["ReplicationConfiguration"]["Role"]["Fn::GetAtt"][0]
    assert role_id.startswith(f"{prefix}ReplicationRole")


def _policy_of(template: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    (policy,) = [
        r for k, r in resources(template, "AWS::IAM::ManagedPolicy").items() if k.startswith(f"{prefix}ReplicationPolicy")
    ]
    (attached,) = policy["Properties"]["Roles"]
    assert attached["Ref"].startswith(f"{prefix}ReplicationRole")
    return policy["Properties"]["PolicyDocument"]["Statement"]


@pytest.mark.parametrize(("source", "copy"), list(SOURCES.items()), ids=[c for c in SOURCES.values()])
def test_the_replication_role_reaches_its_two_buckets_and_two_keys_only(
    reference: Synthesized, source: tuple[str, str], copy: str
) -> None:
    s = reference.settings
    assert s.dr is not None
    role, prefix = source
    template = reference.template_json(role)
    bucket_id, _ = _bucket(template, prefix)
    arn, objects = f"<GetAtt:{bucket_id}.Arn>", f"<GetAtt:{bucket_id}.Arn>/*"
    copy_arn = f"arn:<Ref:AWS::Partition>:s3:::{_copy_name(reference, copy)}"
    statements = {st["Sid"]: st for st in _policy_of(template, prefix)}
    read = ["s3:GetObjectVersionAcl", "s3:GetObjectVersionForReplication", "s3:GetObjectVersionTagging"]
    if copy == "Trail":
        read += ["s3:GetObjectLegalHold", "s3:GetObjectRetention"]  # an Object Lock source
    expected: dict[str, tuple[list[str] | str, str | None]] = {
        "ReadTheSourceConfiguration": (["s3:GetReplicationConfiguration", "s3:ListBucket"], arn),
        "ReadTheSourceVersions": (sorted(read), objects),
        "WriteTheReplicas": (["s3:ReplicateObject", "s3:ReplicateTags"], f"{copy_arn}/*"),
    }
    if source in KMS_SOURCES:
        (key,) = [k for k in resources(template, "AWS::KMS::Key") if k.startswith(KMS_SOURCES[source])]
        expected["DecryptTheSourceThroughS3"] = ("kms:Decrypt", f"<GetAtt:{key}.Arn>")
        expected["EncryptTheReplicasThroughS3"] = ("kms:Encrypt", None)  # the DR key, checked below
        for sid, region, bucket in (
            ("DecryptTheSourceThroughS3", s.region, arn),
            ("EncryptTheReplicasThroughS3", s.dr.region, copy_arn),
        ):
            condition = statements[sid]["Condition"]
            assert condition["StringEquals"] == {"kms:ViaService": f"s3.{region}.amazonaws.com"}
            assert [render(v) for v in condition["StringLike"]["kms:EncryptionContext:aws:s3:arn"]] == [bucket, f"{bucket}/*"]
        (dr_key,) = resources(reference.template_json("dr_replicas"), "AWS::KMS::Key")
        assert reference.local(statements["EncryptTheReplicasThroughS3"]["Resource"]) == {"Fn::GetAtt": [dr_key, "Arn"]}
    assert set(statements) == set(expected)
    for sid, (actions, resource) in expected.items():
        st = statements[sid]
        assert st["Effect"] == "Allow" and (sorted(st["Action"]) if isinstance(st["Action"], list) else st["Action"]) == actions
        assert isinstance(st["Resource"], dict | str) and "*" not in render(st["Resource"]).removesuffix("/*")
        if resource is not None:
            assert render(st["Resource"]) == resource
    # Only S3, of this account, assumes the role.
    (trust,) = [r for k, r in resources(template, "AWS::IAM::Role").items() if k.startswith(f"{prefix}ReplicationRole")]
    (assume,) = trust["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert assume["Principal"] == {"Service": "s3.amazonaws.com"}
    assert assume["Condition"] == {"StringEquals": {"aws:SourceAccount": s.account}}


def test_the_copies_are_private_versioned_tls_only_and_retained(reference: Synthesized) -> None:
    template = reference.template_json("dr_replicas")
    (key,) = resources(template, "AWS::KMS::Key")
    policies = {
        render(p["Properties"]["Bucket"]): p["Properties"]["PolicyDocument"]
        for p in resources(template, "AWS::S3::BucketPolicy").values()
    }
    for source, copy in SOURCES.items():
        logical_id, bucket = _bucket(template, copy)
        p = bucket["Properties"]
        assert bucket["DeletionPolicy"] == "Retain"
        assert p["VersioningConfiguration"] == {"Status": "Enabled"}
        assert set(p["PublicAccessBlockConfiguration"].values()) == {True} and len(p["PublicAccessBlockConfiguration"]) == 4
        (deny,) = [st for st in policies[f"<Ref:{logical_id}>"]["Statement"] if st["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        (encryption,) = p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        if source in KMS_SOURCES:
            assert encryption["ServerSideEncryptionByDefault"] == {
                "KMSMasterKeyID": {"Fn::GetAtt": [key, "Arn"]},
                "SSEAlgorithm": "aws:kms",
            }
            # A data copy logs its access, as its source does.
            access_logs, _ = _bucket(template, "AccessLogs")
            assert p["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": access_logs}
        else:
            assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_the_trail_copy_keeps_the_trail_s_object_lock(reference: Synthesized) -> None:
    _, source = _bucket(reference.template_json("audit"), "TrailBucket")
    _, copy = _bucket(reference.template_json("dr_replicas"), "Trail")
    lock = source["Properties"]["ObjectLockConfiguration"]
    assert copy["Properties"]["ObjectLockEnabled"] is True and copy["Properties"]["ObjectLockConfiguration"] == lock
    assert lock["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": reference.settings.audit.object_lock_days}


def test_the_trail_records_the_objects_of_the_copies_too(reference: Synthesized) -> None:
    (trail,) = resources(reference.template_json("audit"), "AWS::CloudTrail::Trail").values()
    selectors = trail["Properties"]["AdvancedEventSelectors"]
    arns = {
        render(v) for sel in selectors for f in sel["FieldSelectors"] if f["Field"] == "resources.ARN" for v in f["StartsWith"]
    }
    for copy in SOURCES.values():
        assert f"arn:<Ref:AWS::Partition>:s3:::{_copy_name(reference, copy)}/" in arns


@pytest.mark.parametrize(
    ("overrides", "key", "allowed"),
    [
        ({"dr.replicate_buckets": "trail,logs"}, "dr.replicate_buckets.1", "one of mendix_files, trail, access_logs"),
        ({"dr.replicate_buckets": "trail,trail"}, "dr.replicate_buckets.1", "a bucket listed once"),
    ],
)
def test_a_bucket_that_cannot_be_replicated_is_refused(overrides: dict[str, str], key: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**cdk_json_context(), **overrides}, {})
    problems = [p for p in caught.value.problems if p.key.startswith("dr.replicate_buckets")]
    (problem,) = problems
    assert problem.key == key and allowed in str(problem)


def test_an_entry_whose_bucket_is_not_built_copies_nothing() -> None:
    """Without EKS there is no Mendix file bucket (nor its access logs) to copy: the entry stands, the copy does not."""
    import aws_cdk as cdk

    from composition import Composer

    settings = load_settings({**cdk_json_context(), "eks.enabled": "false", "audit.trail": "false"}, {})
    assert settings.dr is not None and "mendix_files" in settings.dr.replicate_buckets
    composer = Composer(cdk.App(), settings)
    composer.dr_replicas()
    assert sorted(composer.replicas) == ["AppTierAccessLogs", "NetworkAccessLogs"]
