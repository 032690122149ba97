"""The deploy rehearsal, step by step (docs/testing.md says what it proves and what it cannot).

1. Start the emulator on 127.0.0.1; ``cdk bootstrap`` every environment with
   the project's pinned CLI.
2. Copy the assembly with the placeholders swapped (the emulator's images
   and certificates); check that the template Rules refuse the shipped copy.
3. Deploy, in one CLI run, the stacks a data tier needs and then a broken
   data tier (an unknown initial primary): the first must complete, the
   broken one fail with the retarget function's own message and roll back.
4. Deploy every stack (but those in ``assembly.EXCLUDED``); each must be
   CREATE_COMPLETE with every output of its template, and each VIP must
   forward to its initial primary.
5. Invoke a mirror set's deployed retarget function: a switch, an idempotent
   repeat, an unknown member, a failed status check, a call that asks to skip
   the check, a call for another set, an async member without the
   acknowledgement; and the deploy-time function with a direct call. The
   listeners are read back after each call.
6. Deploy again: nothing changes, and the VIP stays where step 5 left it.
7. Print the coverage of each stack; a stand-in type nobody reviewed fails.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from config.placeholders import PLACEHOLDER_AMI, PLACEHOLDER_DIGEST, placeholder_certificate_arn
from ops.rehearsal import assembly as asm
from ops.rehearsal.emulator import Emulator
from ops.rehearsal.moto_gaps import STAND_INS_FILE, VPC_MAP_FILE
from ops.rehearsal.rules import failed_assertions

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lambda" / "retarget"))

import retarget  # noqa: E402  (the function's own reader of its configuration)

REHEARSAL_DIGEST = "sha256:" + "e" * 64
CDK = ROOT / "node_modules" / ".bin" / "cdk"
CDK_TIMEOUT_SECONDS = 300
PRIMARY_RESOURCE = "Custom::IrisMirrorPrimary"
BROKEN_PRIMARY = "NoSuchMember"
# The loopback addresses that play the members' status pages: 127.<a>.<b>.2 on, in a block of this process's
# own (from its pid), so that two rehearsals on one machine (two test workers, two checkouts) bind apart.
STATUS_PAGE_BASE = 2


def status_page_block(pid: int) -> str:
    """``127.<a>.<b>.``: a /24 of the loopback for ``pid``, never 127.0.0.0/24 (the emulator's 127.0.0.1)."""
    return f"127.{pid // 256 % 254 + 1}.{pid % 256}."


class RehearsalFailed(AssertionError):
    """A step of the rehearsal did not go as a real deployment must."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise RehearsalFailed(message)


@dataclass
class Report:
    steps: list[str] = field(default_factory=list)
    coverage: list[asm.Coverage] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    # Function name -> the configuration it reads (its environment and the sets' SSM parameters), as the emulator holds it.
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def step(self, text: str) -> None:
        self.steps.append(text)
        print(f"ok  {text}", flush=True)


class Cdk:
    """The project's pinned CDK CLI, pointed at the emulator."""

    def __init__(self, emulator: Emulator, workdir: Path) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))},
            **emulator.client_environment(),
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "CDK_DISABLE_VERSION_CHECK": "true",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE": "1",
            "NODE_NO_WARNINGS": "1",
        }
        self.workdir = workdir

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(
            [str(CDK), *args, "--no-notices", "--no-version-reporting", "--ci"],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=CDK_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
        )
        with (self.workdir / "cdk.log").open("a") as log:
            log.write(f"$ cdk {' '.join(args)}\n{run.stdout}{run.stderr}\nexit {run.returncode}\n")
        return run

    def deploy(self, app: Path, stacks: list[str]) -> subprocess.CompletedProcess[str]:
        # --method=direct: moto's change-set path marks a stack complete at once and drops its outputs.
        return self("deploy", "--app", str(app), "--method=direct", "--require-approval=never", "--exclusively", *stacks)


# --- the members' status pages -------------------------------------------------------------------------------------------


class StatusPages:
    """One HTTP server per member on its own loopback address: 200 for the member called primary, 503 otherwise."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path
        self.primary: set[str] = set()
        self.addresses: dict[str, str] = {}
        self.servers: list[http.server.ThreadingHTTPServer] = []

    def add(self, member_ip: str) -> str:
        if member_ip in self.addresses:
            return self.addresses[member_ip]
        address = f"{status_page_block(os.getpid())}{STATUS_PAGE_BASE + len(self.addresses)}"
        pages = self

        class Page(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = self.path == pages.path and member_ip in pages.primary
                body = b"SUCCESS" if ok else b"FAILED"
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = http.server.ThreadingHTTPServer((address, self.port), Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        self.addresses[member_ip] = address
        return address

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


# --- reading the deployed world ------------------------------------------------------------------------------------------


def clients(emulator: Emulator, region: str) -> Callable[[str], Any]:
    env = emulator.client_environment()

    def make(service: str) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=emulator.url,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
        )

    return make


@dataclass
class Function:
    """A deployed retarget function and the configuration it was deployed with."""

    name: str
    region: str
    config: dict[str, Any]


DIRECT_HANDLER = "entry.handler"
DEPLOY_HANDLER = "entry.deploy"


def retarget_functions(
    emulator: Emulator, stack: asm.StackArtifact, document: dict[str, Any], handler: str = DIRECT_HANDLER
) -> list[Function]:
    """Every deployed retarget function of the stack with that handler (by default the direct-call
    entry: a set's own function, the DR region's), with the configuration it reads."""
    make = clients(emulator, stack.region)
    found = []
    for resource in make("cloudformation").describe_stack_resources(StackName=stack.name)["StackResources"]:
        if resource["ResourceType"] != "AWS::Lambda::Function":
            continue
        declared = document["Resources"][resource["LogicalResourceId"]]["Properties"]
        if declared.get("Handler") != handler:
            continue
        try:
            config = retarget.deployed_config(make("lambda"), make("ssm"), resource["PhysicalResourceId"])
        except retarget.ConfigError as err:
            raise RehearsalFailed(f"{stack.name}: {err}") from None
        found.append(Function(resource["PhysicalResourceId"], stack.region, config.to_document()))
    return found


def listener_targets(emulator: Emulator, function: Function, mirror_set: str) -> dict[str, str | None]:
    """Listener ARN -> the one target group it forwards to, read back from the emulator."""
    listeners = function.config["mirror_sets"][mirror_set]["listeners"]
    found = clients(emulator, function.region)("elbv2").describe_listeners(ListenerArns=listeners)["Listeners"]
    out: dict[str, str | None] = {}
    for listener in found:
        groups = [a.get("TargetGroupArn") for a in listener["DefaultActions"] if a["Type"] == "forward"]
        out[listener["ListenerArn"]] = groups[0] if len(groups) == 1 else None
    return out


def pointed_at(emulator: Emulator, function: Function, mirror_set: str) -> str | None:
    """The member every listener of the set forwards to, or None."""
    targets = listener_targets(emulator, function, mirror_set)
    for name, member in function.config["mirror_sets"][mirror_set]["members"].items():
        if all(targets.get(arn) == group for arn, group in member["target_groups"].items()):
            return str(name)
    return None


def invoke(
    emulator: Emulator, function: Function, event: dict[str, Any]
) -> tuple[dict[str, Any], str | None, list[dict[str, Any]]]:
    """Invoke the deployed function through the Lambda API: (payload, FunctionError, the decision lines it logged)."""
    answer = clients(emulator, function.region)("lambda").invoke(
        FunctionName=function.name, Payload=json.dumps(event).encode(), LogType="Tail"
    )
    payload = json.loads(answer["Payload"].read() or b"null")
    logs = base64.b64decode(answer.get("LogResult", "")).decode(errors="replace")
    decisions = []
    for line in logs.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "decision" in record:
                decisions.append(record)
    return payload, answer.get("FunctionError"), decisions


# --- the steps -------------------------------------------------------------------------------------------------------------


def prepare_account(emulator: Emulator, regions: list[str]) -> dict[str, dict[str, str]]:
    """What an operator brings: an AMI, a certificate and the IRIS images per region. Returns the swaps for each region."""
    swaps: dict[str, dict[str, str]] = {}
    for region in regions:
        make = clients(emulator, region)
        image = make("ec2").register_image(Name="rehearsal-member", RootDeviceName="/dev/xvda")["ImageId"]
        certificate = make("acm").request_certificate(DomainName="iris.rehearsal.test")["CertificateArn"]
        # The hosts pull by digest when they boot, which the emulator does not run:
        # any digest of the right form stands for the images an operator pushed.
        swaps[region] = {
            PLACEHOLDER_AMI: image,
            placeholder_certificate_arn(region): certificate,
            PLACEHOLDER_DIGEST: REHEARSAL_DIGEST,
        }
    return swaps


def stand_in_outputs(emulator: Emulator, copy: Path, joined: list[asm.StackArtifact], left_out: dict[str, str]) -> list[str]:
    """What a rehearsed stack reads of a stack left out (the trail, the Eks stack's buckets), made in the
    emulator and written into the reader's template; returns what was made. Only S3 buckets are made
    (a bucket of the same account and region, by its ARN): any other read fails the rehearsal."""
    everything = {s.name: s for s in asm.stacks(copy)}
    made: dict[tuple[str, str], str] = {}
    for stack in joined:
        document = asm.template(copy, stack)
        reads = asm.reads_of(document.get("Resources", {}), frozenset(left_out))
        for ref in reads:
            key = (ref["StackName"], ref["OutputName"])
            if key in made:
                continue
            source = everything[ref["StackName"]]
            written = asm.template(copy, source)
            value = written["Outputs"][ref["OutputName"]]["Value"]
            attribute = value.get("Fn::GetAtt") if isinstance(value, dict) else None
            kind = written["Resources"].get(attribute[0], {}).get("Type") if attribute else None
            check(
                attribute is not None and attribute[1] == "Arn" and kind == "AWS::S3::Bucket",
                f"{stack.name} reads {ref['OutputName']} of {ref['StackName']}, which is left out ({value})",
            )
            assert attribute is not None
            name = f"rehearsal-{source.name}-{attribute[0]}".lower()[:63]
            make = clients(emulator, source.region)("s3")
            if source.region == "us-east-1":
                make.create_bucket(Bucket=name)
            else:
                make.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": source.region})
            made[key] = f"arn:aws:s3:::{name}"
        if reads:
            asm.write_template(copy, stack, asm.replace_reads(document, made))
    return sorted(f"{stack}.{output}" for stack, output in made)


def check_guard(source: Path, copy: Path, stacks: list[asm.StackArtifact]) -> list[str]:
    """The placeholder rules refuse every shipped template that holds one, and pass once swapped."""
    guarded = []
    for stack in stacks:
        shipped = asm.template(source, stack)
        placeholder_rules = [n for n in shipped.get("Rules", {}) if n != "CheckBootstrapVersion"]
        params = {"BootstrapVersion": "30"}
        refused = [f for f in failed_assertions(shipped, params) if not f.startswith("CheckBootstrapVersion")]
        if placeholder_rules:
            check(refused, f"{stack.name}: the placeholder rules {placeholder_rules} pass the shipped placeholders")
            guarded.append(f"{stack.name} ({len(refused)} refused)")
        swapped = failed_assertions(asm.template(copy, stack), params)
        check(swapped == [], f"{stack.name}: the rules still refuse after the swap: {swapped}")
    return guarded


def broken_copy(copy: Path, target: Path, stack: asm.StackArtifact) -> str:
    """The assembly with the first initial primary of ``stack`` renamed to an unknown member; returns its mirror set."""
    asm.copy_assembly(copy, target, {})
    document = asm.template(target, stack)
    for resource in document["Resources"].values():
        if resource["Type"] == PRIMARY_RESOURCE:
            resource["Properties"]["DesiredPrimary"] = BROKEN_PRIMARY
            asm.write_template(target, stack, document)
            return str(resource["Properties"]["MirrorSet"])
    raise RehearsalFailed(f"{stack.name} has no {PRIMARY_RESOURCE}")


def described(emulator: Emulator, stack: asm.StackArtifact) -> dict[str, Any]:
    """The stack as the emulator's CloudFormation describes it, in its own region."""
    return dict(clients(emulator, stack.region)("cloudformation").describe_stacks(StackName=stack.name)["Stacks"][0])


def check_deployed(emulator: Emulator, stack: asm.StackArtifact, document: dict[str, Any]) -> None:
    described_stack = described(emulator, stack)
    check(described_stack["StackStatus"] == "CREATE_COMPLETE", f"{stack.name} is {described_stack['StackStatus']}")
    outputs = {o["OutputKey"]: o.get("OutputValue") for o in described_stack.get("Outputs", [])}
    missing = sorted(k for k in document.get("Outputs", {}) if not outputs.get(k))
    check(not missing, f"{stack.name} lacks outputs {missing}")


def initial_primaries(document: dict[str, Any]) -> dict[str, str]:
    return {
        r["Properties"]["MirrorSet"]: r["Properties"]["DesiredPrimary"]
        for r in document["Resources"].values()
        if r["Type"] == PRIMARY_RESOURCE
    }


def write_vpc_map(workdir: Path, pages: StatusPages, functions: list[Function]) -> None:
    mapping = {}
    for function in functions:
        for mirror_set in function.config["mirror_sets"].values():
            for member in mirror_set["members"].values():
                mapping[member["private_ip"]] = pages.add(member["private_ip"])
    (workdir / VPC_MAP_FILE).write_text(json.dumps(mapping))


def retarget_scenarios(
    emulator: Emulator,
    report: Report,
    pages: StatusPages,
    primary: Function,
    mirror_set: str,
    dr: Function | None,
    *,
    other_set: str,
    deploy: Function,
) -> str:
    """The run-time calls of the deployed function; returns the member the VIP ends on."""
    members = primary.config["mirror_sets"][mirror_set]["members"]
    start = pointed_at(emulator, primary, mirror_set)
    failover = [n for n, m in members.items() if m["role"] == "failover" and n != start]
    check(start is not None and failover, f"{mirror_set}: no second failover member to switch to from {start}")
    new = failover[0]
    ip = {n: m["private_ip"] for n, m in members.items()}

    def call(event: dict[str, Any]) -> tuple[dict[str, Any], str | None, str]:
        payload, error, decisions = invoke(emulator, primary, {"mirror_set": mirror_set, **event})
        check(len(decisions) == 1, f"expected one decision line, got {decisions}")
        return payload, error, str(decisions[0]["decision"])

    pages.primary = {ip[new]}  # the backup has taken over
    payload, error, decision = call({"new_primary": new, "reason": "rehearsal: NotifyBecomePrimary"})
    check(error is None and payload["changed"] and decision == "switched", f"switch to {new}: {error} {payload} {decision}")
    check(pointed_at(emulator, primary, mirror_set) == new, f"after the switch the listeners do not forward to {new}")
    report.step(f"retarget {mirror_set}: {start} -> {new} switched; listeners read back on {new}")

    payload, error, decision = call({"new_primary": new, "reason": "rehearsal: repeat"})
    check(error is None and not payload["changed"] and decision == "already_primary", f"repeat: {error} {payload} {decision}")
    check(pointed_at(emulator, primary, mirror_set) == new, "the repeat moved the listeners")
    report.step(f"retarget {mirror_set}: repeat to {new} made no write (already_primary)")

    payload, error, decision = call({"new_primary": "Member9", "reason": "rehearsal: unknown member"})
    check(error and payload.get("errorType") == "UnknownMember" and decision == "unknown_member", f"unknown: {payload}")
    check(pointed_at(emulator, primary, mirror_set) == new, "an unknown member moved the listeners")
    report.step(f"retarget {mirror_set}: unknown member refused ({payload['errorMessage'][:60]}...)")

    pages.primary = set()
    assert start is not None
    payload, error, decision = call({"new_primary": start, "reason": "rehearsal: status page says not primary"})
    check(error and payload.get("errorType") == "UnhealthyPrimary" and decision == "refused_unhealthy", f"verify: {payload}")
    check(pointed_at(emulator, primary, mirror_set) == new, "a failed status check moved the listeners")
    report.step(f"retarget {mirror_set}: {start} answering 503 refused (UnhealthyPrimary); listeners still on {new}")

    payload, error, decision = call({"new_primary": start, "reason": "rehearsal: skip the check", "verify": False})
    check(error and payload.get("errorType") == "RequestRefused" and decision == "refused_invalid_event", f"verify: {payload}")
    check(pointed_at(emulator, primary, mirror_set) == new, "a call with verify false moved the listeners")
    report.step(f"retarget {mirror_set}: a direct call with verify false refused; listeners still on {new}")

    payload, error, decisions = invoke(
        emulator, primary, {"mirror_set": other_set, "new_primary": start, "reason": "rehearsal: another set"}
    )
    check(error and payload.get("errorType") == "RequestRefused", f"other set: {payload}")
    check([d["decision"] for d in decisions] == ["refused_other_set"], f"other set decisions: {decisions}")
    report.step(f"retarget {mirror_set}'s function: a call for {other_set} refused (refused_other_set)")

    payload, error, decisions = invoke(
        emulator, deploy, {"mirror_set": mirror_set, "new_primary": start, "reason": "rehearsal: direct call to deploy"}
    )
    check(error and payload.get("errorType") == "RequestRefused", f"deploy-time function: {payload}")
    check([d["decision"] for d in decisions] == ["refused_not_custom_resource"], f"deploy decisions: {decisions}")
    check(pointed_at(emulator, primary, mirror_set) == new, "a direct call to the deploy-time function moved the listeners")
    report.step(f"deploy-time function {deploy.name}: a direct call refused (custom resources only)")

    asyncs = [
        (f, s, n)
        for f in (primary, dr)
        if f
        for s, ms in f.config["mirror_sets"].items()
        for n, m in ms["members"].items()
        if m["role"] == "async"
    ]
    check(asyncs, "no async (DR) member in any deployed retarget configuration")
    function, async_set, member = asyncs[0]
    before = pointed_at(emulator, function, async_set)
    payload, error, decisions = invoke(
        emulator, function, {"mirror_set": async_set, "new_primary": member, "reason": "rehearsal"}
    )
    check(error and payload.get("errorType") == "DataLossNotAcknowledged", f"async: {payload}")
    check([d["decision"] for d in decisions] == ["refused_async"], f"async decisions: {decisions}")
    check(pointed_at(emulator, function, async_set) == before, "an unacknowledged async promotion moved the listeners")
    report.step(f"retarget {async_set} in {function.region}: async {member} without acknowledge_data_loss refused")
    return new


@contextlib.contextmanager
def emulator_running(workdir: Path, account: str) -> Iterator[Emulator]:
    emulator = Emulator(workdir, account)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def rehearse(source: Path, workdir: Path) -> Report:
    """The whole rehearsal of the assembly in ``source``; raises RehearsalFailed at the first step that fails."""
    started = time.monotonic()
    report = Report()
    joined, report.left_out = asm.rehearsed(source)
    check(joined, f"no stack of {source} joins the rehearsal")
    account = joined[0].account
    regions = sorted({s.region for s in joined}, key=lambda r: (r != joined[0].region, r))
    names = [s.name for s in joined]
    with emulator_running(workdir / "emulator", account) as emulator:
        report.step(f"emulator on 127.0.0.1:{emulator.port} (account {account})")
        cdk = Cdk(emulator, workdir)
        copy = workdir / "assembly"
        swaps = prepare_account(emulator, regions)
        asm.copy_assembly(source, copy, swaps)
        played = stand_in_outputs(emulator, copy, joined, report.left_out)
        if played:
            report.step(f"outputs of stacks left out, played by buckets in the emulator: {', '.join(played)}")
        guarded = check_guard(source, copy, joined)
        report.step(f"template Rules: the placeholder guard refuses the shipped templates: {', '.join(guarded)}")

        t = time.monotonic()
        run = cdk("bootstrap", "--app", str(copy), *(f"aws://{account}/{region}" for region in regions))
        check(run.returncode == 0, f"cdk bootstrap {' '.join(regions)} failed:\n{run.stderr[-2000:]}")
        report.timings["bootstrap"] = time.monotonic() - t
        report.step(f"cdk bootstrap {' '.join(regions)}")

        # A mirror set's stack: its custom resource asks the data tier's function for the initial primary.
        data_tier = next((s for s in joined if initial_primaries(asm.template(copy, s)) and s.region == regions[0]), None)
        check(data_tier is not None, "no stack in the primary region sets an initial primary")
        assert data_tier is not None
        # One CLI run: the stacks it needs (the same templates as the whole deploy's), then the broken one.
        needed = _dependencies(joined, data_tier)
        t = time.monotonic()
        broken = broken_copy(copy, workdir / "assembly-broken", data_tier)
        run = cdk.deploy(workdir / "assembly-broken", [*needed, data_tier.name])
        output = run.stdout + run.stderr
        check(run.returncode != 0, f"the broken {data_tier.name} deployed")
        for stack in joined:
            if stack.name in needed:
                status = described(emulator, stack)["StackStatus"]
                check(status == "CREATE_COMPLETE", f"{stack.name}, which {data_tier.name} needs, is {status}")
        expected = f"unknown member '{BROKEN_PRIMARY}' of mirror set '{broken}'"
        check(expected in output, f"the broken deploy did not fail with the function's message ({expected}):\n{output[-3000:]}")
        status = described(emulator, data_tier)
        check(status["StackStatus"] == "ROLLBACK_COMPLETE", f"the broken {data_tier.name} is {status['StackStatus']}")
        named = {
            r["Properties"]["Name"]
            for r in asm.template(copy, data_tier)["Resources"].values()
            if r["Type"] == "AWS::SSM::Parameter" and isinstance(r["Properties"].get("Name"), str)
        }
        left = named & _parameters(emulator, data_tier.region)
        check(named and not left, f"the rolled back {data_tier.name} left its configuration parameters behind: {left}")
        report.step(
            f"broken {data_tier.name} (initial primary {BROKEN_PRIMARY}) failed with the handler's message and rolled back"
        )

        run = cdk.deploy(copy, names)
        check(run.returncode == 0, f"cdk deploy failed:\n{run.stderr[-3000:]}")
        report.timings["deploy"] = time.monotonic() - t
        documents = {s.name: asm.template(copy, s) for s in joined}
        for stack in joined:
            check_deployed(emulator, stack, documents[stack.name])
        report.step(f"cdk deploy: {len(joined)} stacks CREATE_COMPLETE with all their outputs: {', '.join(names)}")

        functions = {s.name: retarget_functions(emulator, s, documents[s.name]) for s in joined}
        all_functions = [f for fs in functions.values() for f in fs]
        for stack in joined:
            for mirror_set, desired in initial_primaries(documents[stack.name]).items():
                function = next(f for f in all_functions if f.region == stack.region and mirror_set in f.config["mirror_sets"])
                at = pointed_at(emulator, function, mirror_set)
                check(at == desired, f"{stack.name}: the VIP of {mirror_set} forwards to {at}, not the initial primary {desired}")
                report.step(f"{stack.name}: custom resource pointed the {mirror_set} VIP at {desired}")

        report.configs = {f.name: f.config for f in all_functions}
        pages = StatusPages(all_functions[0].config["health_check"]["port"], all_functions[0].config["health_check"]["path"])
        try:
            write_vpc_map(workdir / "emulator", pages, all_functions)
            mirror_set = next(iter(initial_primaries(documents[data_tier.name])))
            primary = next(f for f in all_functions if f.region == regions[0] and mirror_set in f.config["mirror_sets"])
            dr = next((f for s in joined if s.region != regions[0] for f in functions[s.name]), None)
            shared = next(
                s
                for s in joined
                if s.region == regions[0]
                and any(r.get("Properties", {}).get("Handler") == DEPLOY_HANDLER for r in documents[s.name]["Resources"].values())
            )
            (deploy,) = retarget_functions(emulator, shared, documents[shared.name], DEPLOY_HANDLER)
            other_set = next(
                n for f in all_functions if f.region == regions[0] for n in f.config["mirror_sets"] if n != mirror_set
            )
            ended_on = retarget_scenarios(emulator, report, pages, primary, mirror_set, dr, other_set=other_set, deploy=deploy)
        finally:
            pages.close()

        t = time.monotonic()
        run = cdk.deploy(copy, names)
        check(run.returncode == 0, f"the second cdk deploy failed:\n{run.stderr[-3000:]}")
        unchanged = (run.stdout + run.stderr).count("(no changes)")
        check(unchanged == len(names), f"the second deploy changed {len(names) - unchanged} stack(s):\n{run.stderr[-3000:]}")
        check(pointed_at(emulator, primary, mirror_set) == ended_on, "the second deploy moved the VIP")
        report.timings["redeploy"] = time.monotonic() - t
        report.step(f"second cdk deploy: no changes in {len(names)} stacks; the {mirror_set} VIP stays on {ended_on}")

        stand_ins_path = workdir / "emulator" / STAND_INS_FILE
        stand_ins = json.loads(stand_ins_path.read_text()) if stand_ins_path.exists() else {}
        report.coverage = [asm.coverage(s.name, documents[s.name], stand_ins.get(s.name, {})) for s in joined]
    report.timings["total"] = time.monotonic() - started
    print(asm.coverage_table(report.coverage))
    for name, why in report.left_out.items():
        print(f"left out: {name}: {why}")
    check_stand_ins(report.coverage)
    return report


def check_stand_ins(rows: list[asm.Coverage]) -> None:
    """A stand-in type nobody reviewed for its stack fails the rehearsal, naming the stack and the type."""
    unreviewed = {c.stack: c.unreviewed for c in rows if c.unreviewed}
    check(not unreviewed, f"stand-in types nobody reviewed (ops/rehearsal/assembly.py REVIEWED_STAND_INS): {unreviewed}")


def _dependencies(stacks: list[asm.StackArtifact], stack: asm.StackArtifact) -> list[str]:
    by_name = {s.name: s for s in stacks}
    seen: list[str] = []

    def visit(name: str) -> None:
        for dep in by_name[name].dependencies:
            if dep in by_name and dep not in seen:
                visit(dep)
                seen.append(dep)

    visit(stack.name)
    return seen


def _parameters(emulator: Emulator, region: str) -> set[str]:
    pages = clients(emulator, region)("ssm").get_paginator("describe_parameters").paginate()
    return {p["Name"] for page in pages for p in page["Parameters"]}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ops.rehearsal", description="Deploy rehearsal into moto on 127.0.0.1")
    parser.add_argument("--assembly", type=Path, default=ROOT / "cdk.out", help="a synthesized cloud assembly (make synth)")
    parser.add_argument("--workdir", type=Path, help="where to keep the copy, the logs and the emulator's files")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rehearsal-"))
    try:
        report = rehearse(args.assembly.resolve(), workdir.resolve())
    except RehearsalFailed as err:
        print(f"error: rehearsal failed: {err}\n(logs: {workdir})")
        return 1
    print(" ".join(f"{k} {v:.1f}s" for k, v in report.timings.items()))
    return 0
