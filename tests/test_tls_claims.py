"""No claim about TLS that the templates and merge files do not back.

Every line of the docs (README.md, docs/*.md but the generated
docs/compliance.md) and every cdk-nag acknowledgement reason that says
"TLS" must match a claim below, and each claim names the facts that make it
true; the test checks those facts in the synthesized templates and the
members' merge files. A line that says plainly that a hop is not encrypted
needs no fact. A new sentence about TLS therefore needs a claim here, and a
change that makes a claim false fails its fact.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from config import constants as c
from tests.conftest import ROOT, Synthesized
from tests.cpf import Action, MergeFile, parse
from tests.member_merges import TLS_FILES, every_merge, members
from tests.templates import heredoc, props, render, resources

every_merge_of_the_members = every_merge

ALB_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
Fact = Callable[[Synthesized], None]

# --------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------


def mirror_tls(assembly: Synthesized) -> None:
    """Every member of every set: the four configurations with the host's files, TLS 1.2-1.3, and UseSSL=1."""
    for who, role, f in every_merge(assembly):
        configs = {a.params["Name"]: a.params for a in f.action("CreateSSLConfig")}
        assert set(configs) == {"%MirrorServer", "%MirrorClient", "%ECPServer", "%SuperServer"}, (who, role)
        for params in configs.values():
            assert {k: params[k] for k in TLS_FILES} == TLS_FILES and (params["TLSMinVersion"], params["TLSMaxVersion"]) == (
                "16",
                "32",
            )
        assert configs["%MirrorServer"]["VerifyPeer"] == "3" and configs["%MirrorClient"]["VerifyPeer"] == "1"
        (mirror,) = f.action("ConfigMirror")
        assert mirror.params["UseSSL"] == "1", (who, role)


def async_compression(assembly: Synthesized) -> None:
    for who, role, f in every_merge(assembly):
        (mirror,) = f.action("ConfigMirror")
        if role == "primary":
            assert mirror.params["CompressionForAsyncMembers"] == "2", who
        assert "CompressionForFailoverMembers" not in mirror.params  # failover members keep IRIS's choice


def ecp_required(assembly: Synthesized) -> None:
    for who, _, f in every_merge(assembly):
        assert [a.params.get("SSLECPServer") for a in f.action("ModifySystem")] == ["2"], who
        assert {a.params["Name"]: a.params["VerifyPeer"] for a in f.action("CreateSSLConfig")}["%ECPServer"] == "3"


def superserver_offers_tls(assembly: Synthesized) -> None:
    """Offered (Enabled), not required: the docs say xDBC is able, not required, to use TLS."""
    for who, _, f in every_merge(assembly):
        (server,) = f.action("ModifyServer")
        assert (server.params["Port"], server.params["SSLSupportLevel"], server.params["SSLConfig"]) == (
            str(c.IRIS_SUPERSERVER_PORT),
            "1",
            "%SuperServer",
        ), who


def pending_members_authorized(assembly: Synthesized) -> None:
    for (_, member), user_data in members(assembly).items():
        enabled = [line for line in user_data.splitlines() if line.startswith("systemctl enable iris-member.service")]
        assert enabled == ["systemctl enable iris-member.service iris-notify-primary.path iris-mirror-authorize.timer"], member
        assert "ExecStart=/usr/local/sbin/iris-member authorize-pending" in user_data, member


def vip_passes_tcp_through(assembly: Synthesized) -> None:
    """The VIP's listeners are TCP on the superserver and status-page ports, and hold no certificate."""
    for role in ("data", "dr"):
        listeners = props(assembly.template_json(role), "AWS::ElasticLoadBalancingV2::Listener")
        assert listeners, role
        for listener in listeners:
            assert listener["Protocol"] == "TCP" and "Certificates" not in listener
            assert listener["Port"] in (c.IRIS_SUPERSERVER_PORT, assembly.settings.data.health_check_port)


def status_page_is_plain_http(assembly: Synthesized) -> None:
    for user_data in members(assembly).values():
        conf = heredoc(user_data, "/etc/iris-aws/CSP.conf")
        assert "SSLEngine" not in conf and "Listen 443" not in conf


def alb_serves_tls(assembly: Synthesized) -> None:
    for role in ("app_tier", *(["dr_web"] if assembly.settings.dr is not None else [])):
        listeners = {p["Port"]: p for p in props(assembly.template_json(role), "AWS::ElasticLoadBalancingV2::Listener")}
        assert listeners[c.HTTPS_PORT]["Protocol"] == "HTTPS" and listeners[c.HTTPS_PORT]["SslPolicy"] == ALB_POLICY, role
        assert [a["Type"] for a in listeners[c.HTTP_PORT]["DefaultActions"]] == ["redirect"], role


def web_servers_serve_tls(assembly: Synthesized) -> None:
    template = assembly.template_json("app_tier")
    texts = [render(p["LaunchTemplateData"].get("UserData", "")) for p in props(template, "AWS::EC2::LaunchTemplate")]
    web = [t for t in texts if "iris-webgateway.conf" in t]
    assert web and all("Listen 443" in t and "SSLProtocol -all +TLSv1.2 +TLSv1.3" in t for t in web)


def _launch_template_files(assembly: Synthesized, path: str) -> list[str]:
    """The text each of the app tier's launch templates writes to ``path``, for those that write it."""
    texts = [
        render(p["LaunchTemplateData"].get("UserData", ""))
        for p in props(assembly.template_json("app_tier"), "AWS::EC2::LaunchTemplate")
    ]
    return [heredoc(t, path) for t in texts if f"cat > {path} <<" in t]


def web_gateway_speaks_tls(assembly: Synthesized) -> None:
    """The web servers' CSP.ini: every server profile with TLS, the host's files and the CA."""
    (ini,) = _launch_template_files(assembly, "/etc/iris-aws/CSP.ini.server")  # each server profile
    for key in (
        "Connection_Security_Level=10",
        "SSLCC_Protocol_Min=16",
        "SSLCC_Certificate_File=/etc/iris-tls/host.crt",
        "SSLCC_Certificate_Key_File=/etc/iris-tls/host.key",
        "SSLCC_CA_Certificate_File=/etc/iris-tls/ca.crt",
    ):
        assert key in ini.splitlines(), key


def ecp_clients_use_tls(assembly: Synthesized) -> None:
    """The application and print servers' merge files: the ECP server over TLS, %ECPClient verifying the member."""
    files = _launch_template_files(assembly, "/etc/iris-aws/ecp-client.cpf")
    assert files  # the application servers, and the print servers where there are any
    for text in files:
        f = parse(text)
        assert all(value.split(",")[3] == "1" for value in f.sections["ECPServers"].values())
        client = {a.params["Name"]: a.params for a in f.action("CreateSSLConfig")}["%ECPClient"]
        assert (client["VerifyPeer"], client["CAFile"]) == ("1", "/etc/iris-tls/ca.crt")


def session_manager_through_its_endpoints(assembly: Synthesized) -> None:
    names = [json.dumps(p["ServiceName"]) for p in props(assembly.template_json("network"), "AWS::EC2::VPCEndpoint")]
    assert any("ssmmessages" in n for n in names) and any(".ssm" in n for n in names)


def _denies_plain_http(statements: list[dict[str, Any]]) -> bool:
    return any(s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in statements)


def storage_is_tls_only(assembly: Synthesized) -> None:
    """Every bucket and queue of every stack refuses requests without TLS."""
    for name in assembly.stacks:
        template = assembly.template_json(name)
        policies = {json.dumps(p["Bucket"]): p["PolicyDocument"]["Statement"] for p in props(template, "AWS::S3::BucketPolicy")}
        for logical_id in resources(template, "AWS::S3::Bucket"):
            assert _denies_plain_http(policies[json.dumps({"Ref": logical_id})]), (name, logical_id)
        queue_policies = props(template, "AWS::SQS::QueuePolicy")
        assert len(queue_policies) >= len(resources(template, "AWS::SQS::Queue")), name
        for policy in queue_policies:
            assert _denies_plain_http(policy["PolicyDocument"]["Statement"]), name


def topics_are_tls_only(assembly: Synthesized) -> None:
    """Every SNS topic of every stack (the severity topics among them) refuses requests without TLS."""
    for name in assembly.stacks:
        template = assembly.template_json(name)
        policies = {
            json.dumps(t): p["PolicyDocument"]["Statement"] for p in props(template, "AWS::SNS::TopicPolicy") for t in p["Topics"]
        }
        for logical_id in resources(template, "AWS::SNS::Topic"):
            assert _denies_plain_http(policies[json.dumps({"Ref": logical_id})]), (name, logical_id)


def subscriptions_are_never_plain_http(assembly: Synthesized) -> None:
    """No topic delivers over plain HTTP: a webhook is an https:// subscription (settings refuse any other URL)."""
    protocols = {p["Protocol"] for name in assembly.stacks for p in props(assembly.template_json(name), "AWS::SNS::Subscription")}
    assert protocols and "http" not in protocols, protocols


def database_requires_tls(assembly: Synthesized) -> None:
    template = assembly.template_json("eks")
    groups = props(template, "AWS::RDS::DBClusterParameterGroup") + props(template, "AWS::RDS::DBParameterGroup")
    assert any(g["Parameters"].get("rds.force_ssl") == "1" for g in groups)


def _joined(value: Any) -> str:
    """A manifest's text, with any intrinsic other than Fn::Join shown by its name."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_joined(part) for part in parts)
    return f"<{next(iter(value))}>"


def app_nlb_serves_tls(assembly: Synthesized) -> None:
    """The Mendix Operator's endpoint: the controller's NLB serves TLS on 443 with the ACM certificate."""
    template = assembly.template_json("eks")
    jobs = [
        o
        for r in resources(template, "Custom::AWSCDK-EKS-KubernetesResource").values()
        for o in json.loads(_joined(r["Properties"]["Manifest"]))
        if o["kind"] == "Job" and o["metadata"]["name"] == "mendix-installer"
    ]
    (job,) = jobs
    (container,) = job["spec"]["template"]["spec"]["containers"]
    (line,) = [line for line in container["command"][2].splitlines() if "patch operatorconfiguration" in line]
    annotations = json.loads(shlex.split(line)[-1])["spec"]["endpoint"]["serviceAnnotations"]
    prefix = "service.beta.kubernetes.io/aws-load-balancer-"
    assert annotations[f"{prefix}ssl-ports"] == "443"
    assert annotations[f"{prefix}ssl-cert"] == assembly.settings.eks.mendix_operator.certificate_arn
    assert annotations[f"{prefix}ssl-negotiation-policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"


def hosts_get_certificates_from_the_ca(assembly: Synthesized) -> None:
    """Every member and web server may ask the CA for an end-entity certificate, and its boot asks for one."""
    texts = {role: json.dumps(assembly.template_json(role)) for role in ("data", "app_tier")}
    for role, text in texts.items():
        assert '"acm-pca:IssueCertificate"' in text and "template/EndEntityCertificate/V1" in text, role
    assert "systemctl enable iris-host-certificate.timer" in texts["data"]


def log_search_is_tls_only(assembly: Synthesized) -> None:
    """The log search domain (where a profile has one): HTTPS only, TLS 1.2 or later, node-to-node encryption."""
    domains = [d for role in assembly.stacks for d in props(assembly.template_json(role), "AWS::OpenSearchService::Domain")]
    assert len(domains) == (1 if assembly.settings.ops.log_search.enabled else 0)
    for d in domains:
        assert d["DomainEndpointOptions"] == {"EnforceHTTPS": True, "TLSSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"}
        assert d["NodeToNodeEncryptionOptions"] == {"Enabled": True}


def topics_refuse_plain_publishing(assembly: Synthesized) -> None:
    """Every severity topic's policy denies sns:Publish without TLS (aws:SecureTransport false)."""
    topics = [t for role in assembly.stacks for t in resources(assembly.template_json(role), "AWS::SNS::Topic")]
    policies = [p for role in assembly.stacks for p in props(assembly.template_json(role), "AWS::SNS::TopicPolicy")]
    assert topics and len(policies) >= len(topics)
    for policy in policies:
        denies = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies), policy


def webhooks_are_https(assembly: Synthesized) -> None:
    """A pager's webhook is an https:// URL (settings refuse any other) and subscribes over HTTPS."""
    from config.ops import HTTPS_URL

    assert HTTPS_URL.startswith("^https://")
    for role in assembly.stacks:
        for sub in props(assembly.template_json(role), "AWS::SNS::Subscription"):
            assert sub["Protocol"] != "http", role
            if sub["Protocol"] == "https":
                assert str(sub["Endpoint"]).startswith("https://"), role


# --------------------------------------------------------------------------
# Claims: what a line says -> the facts that make it true
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    pattern: str
    facts: tuple[Fact, ...]


# Said plainly: these hops are not encrypted. No fact needed.
NOT_ENCRYPTED = re.compile(r"not encrypted|unencrypted|no TLS configured|plain HTTP")

CLAIMS = (
    # Acknowledgements
    Claim(r"mirror VIP has TCP listeners only, and NLB access logs record TLS connections only", (vip_passes_tcp_through,)),
    Claim(r"TCP pass-through to the primary's superserver: IRIS offers TLS", (vip_passes_tcp_through, superserver_offers_tls)),
    # The data tier (docs/data-tier.md, "Encryption in transit")
    Claim(
        r"\| hop \| port \| TLS \| peer verified \|",
        (mirror_tls, async_compression, ecp_required, superserver_offers_tls, vip_passes_tcp_through, status_page_is_plain_http),
    ),
    Claim(r"TLS 1\.2 minimum and 1\.3|TLSMinVersion|TLSMaxVersion|TLS version bits", (mirror_tls,)),
    Claim(r"ODBC TLS settings", (superserver_offers_tls,)),
    Claim(r"bytes TLS has to encrypt", (async_compression,)),
    Claim(r"UseSSL=1|TLS is decided when it is created|mirror.*TLS|TLS.*mirror", (mirror_tls,)),
    Claim(r"With TLS a new|\| server \||SSL/TLS configurations", (mirror_tls, pending_members_authorized)),
    Claim(r"ECP|SSLECPServer", (ecp_required,)),
    Claim(r"xDBC|superserver|%SuperServer|A client that needs TLS|speak TLS", (superserver_offers_tls,)),
    Claim(r"compress", (async_compression, mirror_tls)),
    # The public entrance and the web servers
    Claim(rf"{ALB_POLICY}|TLS 1\.3 and$|ALB \(TLS only|TLS 1\.3/1\.2|ALB with TLS", (alb_serves_tls,)),
    Claim(r"Listen 443`, TLS 1\.2/1\.3", (web_servers_serve_tls,)),
    # The application tier (docs/app-tier.md)
    Claim(r"Connection_Security_Level|SSLCC_|TLS keys above|TLS files on every host", (web_gateway_speaks_tls, mirror_tls)),
    Claim(r"over TLS \(fourth field 1|host's TLS files", (ecp_clients_use_tls,)),
    Claim(r"Session Manager channel", (session_manager_through_its_endpoints,)),
    # The certificates (docs/certificates.md)
    Claim(
        r"TLS certificate|TLS keys and the deployment's CA|TLS web server and client authentication|hosts' TLS certificates"
        r"|refuses its$|^TLS connections\. With the shipped profiles",
        (hosts_get_certificates_from_the_ca,),
    ),
    # The Mendix platform
    Claim(r"TLS only, 5-minute retention|TLS-only|platform key, TLS only\)", (storage_is_tls_only,)),
    Claim(r"strict TLS|`psql` over TLS", (database_requires_tls,)),
    # The severity topics (docs/operations.md) and their webhooks (docs/settings.md)
    Claim(r"^requests without TLS\. The Mendix pipeline's approval", (topics_are_tls_only,)),
    Claim(r"SNS posts alarms over TLS only", (subscriptions_are_never_plain_http,)),
    Claim(
        r"NLB with TLS per app|TLS on 443|ELBSecurityPolicy-TLS13-1-2-2021-06|NLB terminates TLS|apps' NLB serves TLS",
        (app_nlb_serves_tls,),
    ),
    Claim(r"TLS through the controller's Ingress support", (app_nlb_serves_tls,)),
    # Operations (docs/operations.md)
    Claim(r"Policy-Min-TLS-1-2-2019-07|node-to-node, TLS 1\.2, IAM fine-grained", (log_search_is_tls_only,)),
    Claim(r"requests without TLS", (topics_refuse_plain_publishing,)),
    Claim(r"SNS posts alarms over TLS only", (webhooks_are_https,)),
)


def acknowledgement_reasons(assembly: Synthesized) -> set[str]:
    return {
        ack["reason"]
        for report in assembly.report["pluginReports"]
        for ack in report.get("suppressedViolations", [])
        if "TLS" in ack["reason"]
    }


def doc_lines() -> list[tuple[str, str]]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [
        (f"{path.relative_to(ROOT)}:{n}", line)
        for path in files
        if path.name != "compliance.md"  # generated from the acknowledgements, checked as such
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "TLS" in line
    ]


def test_every_tls_claim_is_backed_by_a_fact_the_templates_or_merge_files_hold(assembly: Synthesized) -> None:
    hits = [*doc_lines(), *((f"acknowledgement: {r[:60]}...", r) for r in sorted(acknowledgement_reasons(assembly)))]
    assert len(hits) > 20  # the docs and the VIP's acknowledgements speak of TLS
    unbacked, needed = [], []
    for where, text in hits:
        claims = [claim for claim in CLAIMS if re.search(claim.pattern, text)]
        if claims:
            needed += [fact for claim in claims for fact in claim.facts]
        elif not NOT_ENCRYPTED.search(text):
            unbacked.append(f"{where}: {text.strip()}")
    assert unbacked == [], "claims about TLS with no fact behind them (add a Claim, or say the hop is not encrypted)"
    for fact in dict.fromkeys(needed):  # each fact once, in order
        fact(assembly)


def test_the_facts_fail_when_the_merge_files_lose_tls(assembly: Synthesized, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fact is a check, not a formality: without UseSSL the mirror fact fails."""

    def without_ssl(a: Synthesized) -> list[tuple[str, str, MergeFile]]:
        return [
            (
                who,
                role,
                MergeFile(f.sections, [Action(x.name, {k: v for k, v in x.params.items() if k != "UseSSL"}) for x in f.actions]),
            )
            for who, role, f in every_merge_of_the_members(a)
        ]

    monkeypatch.setattr(sys.modules[__name__], "every_merge", without_ssl)
    with pytest.raises(KeyError, match="UseSSL"):
        mirror_tls(assembly)


def test_acknowledgement_reasons_in_components_are_seen() -> None:
    """The VIP's reasons are where the acknowledgements come from (components/mirror_vip.py)."""
    from components.mirror_vip import listener_reason

    assert "TLS" in listener_reason(c.IRIS_SUPERSERVER_PORT)
    assert NOT_ENCRYPTED.search(listener_reason(c.IRIS_WEB_PORT))
    assert any(re.search(claim.pattern, listener_reason(c.IRIS_SUPERSERVER_PORT)) for claim in CLAIMS)
