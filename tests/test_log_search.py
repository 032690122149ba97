"""Central log search (docs/operations.md, "Log search"): the OpenSearch domain of `reference`, none in `dev`,
the subscription filters that feed it, and its two functions against a scripted domain.

The templates are the session's `reference` and `dev` assemblies; the functions (lambda/log_search)
are called directly, their HTTPS requests answered by :class:`Domain`, which keeps documents, roles
and the ISM policy as OpenSearch does and refuses an unsigned request.
"""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import socketserver
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import log_delivery
import log_search_setup
import pytest
from botocore.credentials import Credentials
from search_http import Response, SearchClient, SearchError

from components.log_search import DOMAIN_LOGS, SETUP_PATHS, TLS_POLICY
from ops import log_search_proxy as proxy
from tests.conftest import Synthesized
from tests.templates import props, resources

ENDPOINT = "vpc-iris-logs-abc123.eu-west-1.es.amazonaws.com"
REGION = "eu-west-1"
KEYS = Credentials("AKIDEXAMPLE", "secret")
WRITER = "arn:aws:iam::000000000000:role/delivery"


# --------------------------------------------------------------------------
# A scripted domain
# --------------------------------------------------------------------------


class Domain:
    """The REST API the functions use, as OpenSearch answers it: ``_bulk`` (documents by index and id,
    per-item errors), the security plugin's roles, mappings and audit configuration, and ISM policies
    with sequence numbers (a PUT over an existing policy without them is a conflict)."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, Any] = {}
        self.mappings: dict[str, Any] = {}
        self.policies: dict[str, tuple[int, Any]] = {}
        self.audit = {"config": {"enabled": False}}
        self.refuse_index: str | None = None  # a mapping conflict on every document of this index
        self.requests: list[tuple[str, str]] = []

    def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Response:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.hostname == ENDPOINT, url
        auth = headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 ") or f"/{REGION}/es/aws4_request" not in auth:
            return Response(403, b'{"message":"missing or wrong SigV4 signature"}')
        self.requests.append((method, parts.path))
        document = json.loads(body) if body and not parts.path.endswith("_bulk") else None
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path == "/_bulk" and method == "POST":
            return self._bulk(body or b"")
        if path.startswith("/_plugins/_security/api/roles/") and method == "PUT":
            self.roles[path.rsplit("/", 1)[1]] = document
            return Response(200, b'{"status":"OK"}')
        if path.startswith("/_plugins/_security/api/rolesmapping/") and method == "PUT":
            self.mappings[path.rsplit("/", 1)[1]] = document
            return Response(200, b'{"status":"OK"}')
        if path == "/_plugins/_security/api/audit" and method == "PATCH":
            for op in document or []:
                assert op["op"] in ("add", "replace") and op["path"] == "/config/enabled"
                self.audit["config"]["enabled"] = op["value"]
            return Response(200, b'{"status":"OK"}')
        if path.startswith("/_plugins/_ism/policies/"):
            return self._policy(method, path.rsplit("/", 1)[1], query, document)
        return Response(404, b'{"error":"no handler"}')

    def _bulk(self, body: bytes) -> Response:
        lines = [json.loads(line) for line in body.decode().splitlines() if line]
        items = []
        for action, doc in zip(lines[::2], lines[1::2], strict=True):
            meta = action["index"]
            if meta["_index"] == self.refuse_index:
                error = {"type": "mapper_parsing_exception", "reason": "failed to parse field [fields.status]"}
                items.append({"index": {"_index": meta["_index"], "_id": meta["_id"], "status": 400, "error": error}})
                continue
            key = f"{meta['_index']}/{meta['_id']}"
            status = 200 if key in self.documents else 201
            self.documents[key] = doc
            items.append({"index": {"_index": meta["_index"], "_id": meta["_id"], "status": status}})
        errors = any(next(iter(i.values()))["status"] >= 300 for i in items)
        return Response(200, json.dumps({"took": 3, "errors": errors, "items": items}).encode())

    def _policy(self, method: str, name: str, query: dict[str, str], document: Any) -> Response:
        current = self.policies.get(name)
        if method == "GET":
            if current is None:
                return Response(404, b'{"error":{"type":"status_exception","reason":"Policy not found"},"status":404}')
            return Response(200, json.dumps({"_id": name, "_seq_no": current[0], "_primary_term": 1, **current[1]}).encode())
        if method == "PUT":
            if current is not None and query.get("if_seq_no") != str(current[0]):
                return Response(409, b'{"error":{"type":"version_conflict_engine_exception"},"status":409}')
            self.policies[name] = ((current[0] + 1) if current else 0, document)
            return Response(201 if current is None else 200, b'{"_id":"%s"}' % name.encode())
        return Response(405, b"{}")


@pytest.fixture
def domain() -> Domain:
    return Domain()


def client(domain: Domain) -> SearchClient:
    return SearchClient(ENDPOINT, REGION, transport=domain, credentials=KEYS)


def batch(log_group: str, messages: list[tuple[str, int, str]], kind: str = "DATA_MESSAGE") -> dict[str, Any]:
    return {
        "messageType": kind,
        "owner": "000000000000",
        "logGroup": log_group,
        "logStream": "i-0123456789abcdef0",
        "subscriptionFilters": ["log-search"],
        "logEvents": [{"id": i, "timestamp": t, "message": m} for i, t, m in messages],
    }


def subscription_event(payload: dict[str, Any]) -> dict[str, Any]:
    """What CloudWatch Logs hands a subscribed function: the batch, gzip'd and base64'd."""
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


# 2026-12-01T10:00:00Z and the next day.
DAY1, DAY2 = 1_796_119_200_000, 1_796_205_600_000
MESSAGES = [
    ("e1", DAY1, "12/01/26-10:00:00:000 (4321) 2 [Mirror.Server] Becoming primary"),
    ("e2", DAY1 + 1, '{"event": "retarget", "decision": "switched", "mirror_set": "HSDB"}'),
    ("e3", DAY2, "12/02/26-10:00:00:000 (4321) 0 [Utility.Event] Journal switched"),
]


# --------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------


def test_a_batch_is_indexed_by_source_and_day_once_however_often_it_arrives(domain: Domain) -> None:
    sources = {"Iris-DataTier-Messages": "iris-messages"}
    payload = batch("Iris-DataTier-Messages", MESSAGES)
    assert log_delivery.deliver(payload, client=client(domain), sources=sources) == {"indexed": 3}
    log_delivery.deliver(payload, client=client(domain), sources=sources)  # Lambda retried the invocation
    assert sorted(domain.documents) == [
        "logs-iris-messages-2026.12.01/e1",
        "logs-iris-messages-2026.12.01/e2",
        "logs-iris-messages-2026.12.02/e3",
    ]
    doc = domain.documents["logs-iris-messages-2026.12.01/e1"]
    assert doc["@timestamp"] == "2026-12-01T10:00:00.000+00:00"
    assert doc["log_group"] == "Iris-DataTier-Messages" and doc["log_stream"] == "i-0123456789abcdef0"
    assert "fields" not in doc
    # A structured line keeps its text and is searchable by field.
    assert domain.documents["logs-iris-messages-2026.12.01/e2"]["fields"]["decision"] == "switched"


def test_an_unknown_group_goes_to_the_other_indices(domain: Domain) -> None:
    log_delivery.deliver(batch("SomethingElse", MESSAGES[:1]), client=client(domain), sources={})
    assert list(domain.documents) == ["logs-other-2026.12.01/e1"]


def test_a_control_message_indexes_nothing(domain: Domain) -> None:
    payload = batch(
        "Iris-DataTier-Messages", [("c", DAY1, "CWL CONTROL MESSAGE: Checking health of destination")], "CONTROL_MESSAGE"
    )
    assert log_delivery.deliver(payload, client=client(domain), sources={})["indexed"] == 0
    assert domain.requests == []


def test_a_refused_document_fails_the_invocation_naming_it(domain: Domain) -> None:
    domain.refuse_index = "logs-web-2026.12.02"
    with pytest.raises(
        SearchError, match=r"1 of 3 events of Iris-AppTier-Apache refused: logs-web-2026.12.02/e3: HTTP 400: failed"
    ):
        log_delivery.deliver(
            batch("Iris-AppTier-Apache", MESSAGES), client=client(domain), sources={"Iris-AppTier-Apache": "web"}
        )


def test_an_unsigned_request_is_refused_and_fails_loudly(domain: Domain) -> None:
    def unsigned(method: str, url: str, headers: dict[str, str], body: bytes | None) -> Response:
        return domain(method, url, {k: v for k, v in headers.items() if k != "Authorization"}, body)

    with pytest.raises(SearchError, match="HTTP 403"):
        SearchClient(ENDPOINT, REGION, transport=unsigned, credentials=KEYS).request("POST", "/_bulk", raw=b"{}\n")


def test_the_handler_reads_the_subscription_event_and_its_environment(domain: Domain, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        log_delivery.ENDPOINT_VARIABLE: ENDPOINT,
        log_delivery.SOURCES_VARIABLE: json.dumps({"/aws/containerinsights/mendix/application": "eks-containers"}),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    event = subscription_event(batch("/aws/containerinsights/mendix/application", MESSAGES[1:2]))
    assert log_delivery.handler(event, None, transport=domain) == {"indexed": 1}
    assert list(domain.documents) == ["logs-eks-containers-2026.12.01/e2"]


def test_an_endpoint_with_a_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="without a scheme"):
        SearchClient(f"https://{ENDPOINT}", REGION, credentials=KEYS)


# --------------------------------------------------------------------------
# Setup (the custom resource)
# --------------------------------------------------------------------------


def setup_event(request: str, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request,
        "PhysicalResourceId": f"{ENDPOINT}/log-search-setup",
        "ResourceProperties": {
            "Endpoint": ENDPOINT,
            "WriterRoleArn": WRITER,
            "ReaderRoleArns": ["arn:aws:iam::000000000000:role/oncall"],
            "HotDays": "7",
            "DeleteAfterDays": "30",
            **extra,
        },
    }


@pytest.fixture
def setup(domain: Domain, monkeypatch: pytest.MonkeyPatch) -> Iterator[Domain]:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setattr(
        log_search_setup, "SearchClient", lambda e, r, transport: SearchClient(e, r, transport=transport, credentials=KEYS)
    )
    yield domain


def test_create_maps_the_roles_puts_the_lifecycle_and_turns_audit_on(setup: Domain) -> None:
    answer = log_search_setup.on_event(setup_event("Create"), None, transport=setup)
    assert answer["Data"]["PolicyChange"] == "created"
    assert setup.mappings["log_writer"] == {"backend_roles": [WRITER]}
    assert (
        setup.mappings["readall"]
        == setup.mappings["opensearch_dashboards_user"]
        == {"backend_roles": ["arn:aws:iam::000000000000:role/oncall"]}
    )
    writer = setup.roles["log_writer"]
    assert [p["index_patterns"] for p in writer["index_permissions"]] == [["logs-*"]]
    assert setup.audit["config"]["enabled"] is True
    policy = setup.policies["logs-lifecycle"][1]["policy"]
    states = {s["name"]: s for s in policy["states"]}
    assert states["hot"]["transitions"] == [{"state_name": "read_only", "conditions": {"min_index_age": "7d"}}]
    assert states["read_only"]["transitions"] == [{"state_name": "delete", "conditions": {"min_index_age": "30d"}}]
    assert states["delete"]["actions"] == [{"delete": {}}]
    assert policy["ism_template"] == [{"index_patterns": ["logs-*"], "priority": 100}]


def test_every_path_the_setup_calls_is_one_its_role_may_call(setup: Domain) -> None:
    log_search_setup.on_event(setup_event("Create"), None, transport=setup)
    assert {path.lstrip("/") for _, path in setup.requests} == set(SETUP_PATHS)


def test_update_replaces_the_policy_at_its_sequence_number(setup: Domain) -> None:
    log_search_setup.on_event(setup_event("Create"), None, transport=setup)
    answer = log_search_setup.on_event(setup_event("Update", HotDays="3", DeleteAfterDays="14"), None, transport=setup)
    assert answer["Data"]["PolicyChange"] == "updated"
    states = {s["name"]: s for s in setup.policies["logs-lifecycle"][1]["policy"]["states"]}
    assert states["hot"]["transitions"][0]["conditions"] == {"min_index_age": "3d"}


def test_delete_leaves_the_domain_as_it_is(setup: Domain) -> None:
    assert log_search_setup.on_event(setup_event("Delete"), None, transport=setup)["PhysicalResourceId"].endswith("setup")
    assert setup.requests == []


def test_a_lifecycle_that_deletes_before_it_cools_is_refused() -> None:
    with pytest.raises(ValueError, match="below delete_after_days"):
        log_search_setup.lifecycle_policy(30, 30)


# --------------------------------------------------------------------------
# The templates
# --------------------------------------------------------------------------


def the_domain(reference: Synthesized) -> dict[str, Any]:
    (domain,) = props(reference.template_json("log_search"), "AWS::OpenSearchService::Domain")
    return domain


def test_dev_has_no_domain_and_its_log_groups_no_subscription(dev: Synthesized) -> None:
    assert "log_search" not in dev.stacks
    for role in dev.stacks:
        template = dev.template_json(role)
        assert not resources(template, "AWS::OpenSearchService::Domain"), role
        assert not resources(template, "AWS::Logs::SubscriptionFilter"), role


def test_the_domain_is_in_the_vpc_over_three_zones(reference: Synthesized) -> None:
    d, s = the_domain(reference), reference.settings.ops.log_search
    assert len(d["VPCOptions"]["SubnetIds"]) == 3
    cluster = d["ClusterConfig"]
    assert cluster["ZoneAwarenessEnabled"] is True and cluster["ZoneAwarenessConfig"] == {"AvailabilityZoneCount": 3}
    assert cluster["MultiAZWithStandbyEnabled"] is s.multi_az_with_standby
    assert (cluster["InstanceType"], cluster["InstanceCount"]) == (s.instance_type, s.data_nodes)
    assert (cluster["DedicatedMasterEnabled"], cluster["DedicatedMasterCount"]) == (True, s.dedicated_masters)
    assert d["EBSOptions"] == {"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": s.volume_gib}


def test_the_domain_is_encrypted_tls_only_and_authorizes_with_iam(reference: Synthesized) -> None:
    d = the_domain(reference)
    template = reference.template_json("log_search")
    key = d["EncryptionAtRestOptions"]
    assert key["Enabled"] is True and resources(template, "AWS::KMS::Key")[key["KmsKeyId"]["Ref"]]
    assert d["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert d["DomainEndpointOptions"] == {"EnforceHTTPS": True, "TLSSecurityPolicy": TLS_POLICY}
    fgac = d["AdvancedSecurityOptions"]
    assert fgac["Enabled"] is True and fgac["InternalUserDatabaseEnabled"] is False and fgac["AnonymousAuthEnabled"] is False
    master = fgac["MasterUserOptions"]
    assert set(master) == {"MasterUserARN"}  # an IAM role, no user name or password
    (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith("LogSearchSetupRole")]
    assert master["MasterUserARN"] == {"Fn::GetAtt": [role_id, "Arn"]}
    (statement,) = d["AccessPolicies"]["Statement"]
    assert statement["Principal"]["AWS"][0] == master["MasterUserARN"] and "*" not in json.dumps(statement["Principal"])


def test_audit_error_and_slow_logs_go_to_encrypted_groups(reference: Synthesized) -> None:
    d = the_domain(reference)
    template = reference.template_json("log_search")
    groups = resources(template, "AWS::Logs::LogGroup")
    assert set(d["LogPublishingOptions"]) == set(DOMAIN_LOGS)
    for kind, option in d["LogPublishingOptions"].items():
        assert option["Enabled"] is True, kind
        group = groups[option["CloudWatchLogsLogGroupArn"]["Fn::GetAtt"][0]]["Properties"]
        assert "KmsKeyId" in group and group["RetentionInDays"] == reference.settings.ops.log_search.log_retention_days


def test_the_domain_admits_https_from_its_functions_and_the_tunnel_only(reference: Synthesized) -> None:
    template = reference.template_json("log_search")
    groups = resources(template, "AWS::EC2::SecurityGroup")
    domain_group = the_domain(reference)["VPCOptions"]["SecurityGroupIds"][0]["Fn::GetAtt"][0]
    inline = groups[domain_group]["Properties"].get("SecurityGroupIngress", [])
    separate = [p for p in props(template, "AWS::EC2::SecurityGroupIngress") if p["GroupId"]["Fn::GetAtt"][0] == domain_group]
    rules = inline + separate
    assert rules and all((r["IpProtocol"], r["FromPort"], r["ToPort"]) == ("tcp", 443, 443) for r in rules)
    assert all("CidrIp" not in r for r in rules)
    sources = {json.dumps(r["SourceSecurityGroupId"]) for r in rules}
    assert len(sources) == 2  # the functions' group and the web servers' (the tunnel)


def test_every_member_and_web_log_group_feeds_the_delivery_function(reference: Synthesized) -> None:
    template = reference.template_json("log_search")
    functions = resources(template, "AWS::Lambda::Function")
    (delivery,) = [k for k, r in functions.items() if r["Properties"]["Handler"] == "log_delivery.handler"]
    filters = props(template, "AWS::Logs::SubscriptionFilter")
    fed = []
    for f in filters:
        assert f["DestinationArn"] == {"Fn::GetAtt": [delivery, "Arn"]} and f["FilterPattern"] == ""
        fed.append(reference.local(f["LogGroupName"]))
    # Each group's own permission lets CloudWatch Logs invoke the function for that group only.
    invokers = [reference.local(p["SourceArn"]) for p in props(template, "AWS::Lambda::Permission")
                if p["Principal"] == "logs.eu-west-1.amazonaws.com"]  # fmt: skip
    assert sorted(i["Fn::GetAtt"][0] for i in invokers) == sorted(g["Ref"] for g in fed)
    data, app, eks = (reference.template_json(r) for r in ("data_tier", "app_tier", "eks"))
    expected = [
        *(k for k in resources(data, "AWS::Logs::LogGroup") if k.startswith(("MemberLogsMessages", "MemberLogsAudit"))),
        *(k for k in resources(app, "AWS::Logs::LogGroup") if "ServerLogsApache" in k),
        *(k for k in resources(eks, "AWS::Logs::LogGroup") if "ApplicationLogs" in k),
    ]
    assert len(expected) == 4 and sorted(g["Ref"] for g in fed) == sorted(expected)


def test_the_lifecycle_and_mappings_come_from_settings(reference: Synthesized) -> None:
    (setup,) = props(reference.template_json("log_search"), "Custom::LogSearchSetup")
    lifecycle = reference.settings.ops.log_search.lifecycle
    assert (setup["HotDays"], setup["DeleteAfterDays"]) == (lifecycle.hot_days, lifecycle.delete_after_days)


def test_the_delivery_role_may_bulk_write_and_nothing_else_on_the_domain(reference: Synthesized) -> None:
    template = reference.template_json("log_search")
    policies = {
        k: p for k, p in resources(template, "AWS::IAM::ManagedPolicy").items() if k.startswith("LogSearchDeliveryPolicy")
    }
    ((_, policy),) = policies.items()
    (domain_statement,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Sid"] == "DomainRequests"]
    assert sorted(domain_statement["Action"]) == ["es:ESHttpPost", "es:ESHttpPut"]
    assert json.dumps(domain_statement["Resource"]).endswith('/_bulk"]]}') or "_bulk" in json.dumps(domain_statement["Resource"])


# --------------------------------------------------------------------------
# The operators' signing proxy (ops/log_search_proxy.py)
# --------------------------------------------------------------------------


def certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` and its key, as files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class DomainEnd(http.server.BaseHTTPRequestHandler):
    """The tunnel's far end as the domain answers: HTTPS, and a 403 for a request not signed for its own name."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        headers = dict(self.headers.items())
        DomainEnd.seen.append(headers)
        ok = headers.get("Host") == ENDPOINT and headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 ")
        body = b'{"status":"green"}' if ok else b'{"message":"forbidden"}'
        self.send_response(200 if ok else 403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("served_name", "status"), [(ENDPOINT, 200), ("localhost", 502)], ids=["domain-cert", "other-cert"])
def test_the_proxy_signs_for_the_domain_and_trusts_only_its_certificate(tmp_path: Path, served_name: str, status: int) -> None:
    cert_file, key_file = certificate(tmp_path, served_name)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    far_end = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DomainEnd)
    far_end.socket = server_tls.wrap_socket(far_end.socket, server_side=True)
    client_tls = ssl.create_default_context(cafile=str(cert_file))  # trusts the served certificate, checks its name
    upstream = proxy.tunnel_upstream(ENDPOINT, far_end.server_port, client_tls)
    local = proxy.serve(ENDPOINT, REGION, KEYS, upstream, 0)
    DomainEnd.seen.clear()
    with running(far_end), running(local):
        request = urllib.request.Request(
            f"http://127.0.0.1:{local.server_port}/_cluster/health", headers={"Authorization": "Basic c3RvbGVu"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                got, body = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            got, body = error.code, error.read()
    assert got == status, body
    if status == 200:
        (seen,) = DomainEnd.seen
        assert seen["Host"] == ENDPOINT and f"/{REGION}/es/aws4_request" in seen["Authorization"]
        assert json.loads(body) == {"status": "green"}
    else:
        assert DomainEnd.seen == [] and b"certificate" in body.lower()


def test_the_proxy_refuses_an_endpoint_with_a_scheme(capsys: pytest.CaptureFixture[str]) -> None:
    assert proxy.main(["--endpoint", f"https://{ENDPOINT}", "--tunnel-port", "9443"]) == 2
    assert "without scheme" in capsys.readouterr().err


def test_the_proxy_reads_the_region_from_the_endpoint() -> None:
    assert proxy.region_of(ENDPOINT) == REGION
    assert proxy.region_of("localhost") is None
