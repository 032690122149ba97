"""moto in server mode, with the gaps that stop ``cdk deploy`` of these stacks closed.

    python -m ops.rehearsal.moto_gaps --port 5123 --workdir DIR

Every patch below is small and says which gap it closes. None makes moto
model a service it does not model: resource types without a moto model get a
stand-in (:class:`StandIn`) that only gives them a physical id and
attributes, and each stand-in is counted in the coverage table. The server
listens on 127.0.0.1 only.

Lambda: moto runs functions in Docker, which these machines lack. Here a
function runs in a local process from its deployed code (the zip moto
holds) with its deployed environment: Python handlers with this
interpreter, Node handlers with ``node`` and the AWS SDK v3 clients from the
project's node_modules. As in Lambda, a process serves one invocation after
another of its function version (module state lives on between them); one
that times out or dies is replaced. The process reaches AWS at this server, custom
resource responses go to this server over plain HTTP, and any connection to
a VPC address is sent to the loopback address the rehearsal maps it to
(``vpc-map.json`` in the work dir) or refused: nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import hashlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
# Written by the server for the rehearsal: each stand-in created, by stack.
STAND_INS_FILE = "stand-ins.json"
VPC_MAP_FILE = "vpc-map.json"

# --- Lambda as a local process ------------------------------------------------------------------------------------------

# A function's execution environment: a process that imports the handler once and then serves one
# invocation per line of its stdin ({"event", "request_id", "result_path"}), as Lambda reuses a warm
# environment for the invocations that follow. After each it writes the outcome to result_path and
# prints DONE_MARKER and the request id on a line of its own; what it printed before is that
# invocation's log.
DONE_MARKER = "\x1erehearsal-invocation-done "

PYTHON_BOOTSTRAP = r"""
import importlib, json, os, socket, sys, time, traceback
code, handler_name, vpc_map_path, marker = sys.argv[1:5]
_create_connection = socket.create_connection

def _loopback(host):
    return host in ("localhost", "::1") or str(host).startswith("127.")

def create_connection(address, *args, **kwargs):
    host, port = address[0], address[1]
    if not _loopback(host):
        mapped = json.loads(open(vpc_map_path).read()).get(host) if os.path.exists(vpc_map_path) else None
        if mapped is None:
            raise ConnectionRefusedError(f"rehearsal: {host} is not reachable from this function")
        host = mapped
    return _create_connection((host, port), *args, **kwargs)

socket.create_connection = create_connection
sys.path.insert(0, code)
module_name, function_name = handler_name.rsplit(".", 1)
TIMEOUT = float(os.environ["AWS_LAMBDA_FUNCTION_TIMEOUT"])

class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    invoked_function_arn = os.environ["REHEARSAL_FUNCTION_ARN"]
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "rehearsal"
    def __init__(self, request_id):
        self.aws_request_id = request_id
        self._deadline = time.monotonic() + TIMEOUT
    def get_remaining_time_in_millis(self):
        return int((self._deadline - time.monotonic()) * 1000)

function = None
for line in sys.stdin:
    request = json.loads(line)
    try:
        if function is None:  # an import error fails each invocation, as Lambda's Runtime.ImportModuleError does
            function = getattr(importlib.import_module(module_name), function_name)
        result = function(request["event"], Context(request["request_id"]))
        outcome = {"ok": True, "payload": result}
    except Exception as err:
        traceback.print_exc()
        outcome = {"ok": False, "payload": {"errorMessage": str(err), "errorType": type(err).__name__}}
    with open(request["result_path"], "w") as out:
        json.dump(outcome, out, default=str)
    sys.stderr.flush()
    print(marker + request["request_id"], flush=True)
"""

NODE_BOOTSTRAP = r"""
const [code, handlerName, motoPort, marker] = process.argv.slice(1);
const http = require("http"), https = require("https"), fs = require("fs"), path = require("path");
const readline = require("readline");
// Custom-resource responses: the pre-signed URL names this machine; send it over plain HTTP to the emulator.
const httpsRequest = https.request;
https.request = (options, ...rest) => {
  if (options && typeof options === "object" && options.hostname === "localhost") {
    return http.request({ ...options, port: Number(motoPort), protocol: "http:" }, ...rest);
  }
  return httpsRequest(options, ...rest);
};
const dot = handlerName.lastIndexOf(".");
const timeout = Number(process.env.AWS_LAMBDA_FUNCTION_TIMEOUT) * 1000;
let fn;
const invoke = async (request) => {
  const started = Date.now();
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, invokedFunctionArn: process.env.REHEARSAL_FUNCTION_ARN,
    awsRequestId: request.request_id, logGroupName: "/aws/lambda/" + process.env.AWS_LAMBDA_FUNCTION_NAME,
    logStreamName: "rehearsal", getRemainingTimeInMillis: () => timeout - (Date.now() - started),
  };
  try {
    if (fn === undefined) fn = require(path.join(code, handlerName.slice(0, dot)))[handlerName.slice(dot + 1)];
    const result = await new Promise((resolve, reject) => {
      const r = fn(request.event, context, (err, value) => (err ? reject(err) : resolve(value)));
      if (r && typeof r.then === "function") r.then(resolve, reject);
    });
    return { ok: true, payload: result === undefined ? null : result };
  } catch (err) {
    console.error(err);
    const message = String(err && err.message ? err.message : err);
    return { ok: false, payload: { errorMessage: message, errorType: (err && err.name) || "Error" } };
  }
};
// One invocation at a time: the next line waits for the one before it to finish.
let queue = Promise.resolve();
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const request = JSON.parse(line);
  queue = queue.then(async () => {
    fs.writeFileSync(request.result_path, JSON.stringify(await invoke(request)));
    process.stdout.write(marker + request.request_id + "\n");
  });
});
"""


def _code_dir(workdir: Path, code: bytes) -> Path:
    """The deployed zip, unpacked once per content."""
    target = workdir / "lambda-code" / hashlib.sha256(code).hexdigest()[:16]
    if not target.exists():
        tmp = target.with_suffix(f".{uuid.uuid4().hex}.tmp")
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            archive.extractall(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another invocation unpacked the same code first
            shutil.rmtree(tmp)
    return target


class Environment:
    """One execution environment of a function: its process, serving one invocation at a time."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
        self._output = b""  # read from the process and not yet part of an invocation's log
        _STARTED.append(self)

    def invoke(self, event: Any, result_path: Path, timeout: float) -> tuple[dict[str, Any], str]:
        """The invocation's outcome ({"ok", "payload"}) and its log. A process that dies in an invocation
        or overruns the function's timeout is stopped: like Lambda, the next invocation gets a fresh one."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request_id = str(uuid.uuid4())
        request = {"event": event, "request_id": request_id, "result_path": str(result_path)}
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return _failed(f"the function's process had exited {self.process.wait()}", "Runtime.ExitError"), ""
        done = f"{DONE_MARKER}{request_id}\n".encode()
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while done not in self._output:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                self.stop()
                return _failed(f"Task timed out after {timeout:.0f} seconds", "Sandbox.Timedout"), self._log(len(self._output))
            chunk = os.read(fd, 65536)
            if not chunk:
                code = self.process.wait()
                return _failed(f"the function exited {code} without a result", "Runtime.ExitError"), self._log(len(self._output))
            self._output += chunk
        logs = self._log(self._output.index(done))
        self._output = self._output[len(done) :]
        outcome: dict[str, Any] = json.loads(result_path.read_text())
        return outcome, logs

    def _log(self, end: int) -> str:
        """What the process printed up to ``end``, taken out of what is kept."""
        text, self._output = self._output[:end], self._output[end:]
        return text.decode(errors="replace")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


# Idle environments by function version (name, code, configuration): a new version gets new environments.
_IDLE: dict[tuple[str, ...], list[Environment]] = {}
_IDLE_LOCK = threading.Lock()
_STARTED: list[Environment] = []


def stop_environments() -> None:
    """Stop every function's process, when the server exits (moto's SIGTERM handler exits, Emulator.stop)."""
    for environment in _STARTED:
        if environment.alive:
            environment.stop()


def run_function(fn: Any, event: Any, *, workdir: Path, port: int) -> tuple[str, bool, str]:
    """Run a moto LambdaFunction's deployed code on ``event`` in a warm environment of its version, or a
    new one: (payload JSON, errored, logs)."""
    code = _code_dir(workdir, fn.code_bytes)
    variables = {k: str(v) for k, v in (fn.environment_vars or {}).items()}
    runtime = str(fn.run_time or "")
    version = (fn.function_arn, str(code), json.dumps(variables, sort_keys=True), fn.handler, runtime, str(fn.timeout))
    with _IDLE_LOCK:
        idle = _IDLE.setdefault(version, [])
        environment = idle.pop() if idle else None
    if environment is None or not environment.alive:
        environment = Environment(_command(fn, runtime, code, workdir, port), _environment(fn, variables, workdir, port), code)
    result_path = workdir / f"result-{uuid.uuid4().hex}.json"
    try:
        outcome, logs = environment.invoke(event, result_path, float(fn.timeout))
    finally:
        result_path.unlink(missing_ok=True)
    if environment.alive:
        with _IDLE_LOCK:
            _IDLE[version].append(environment)
    with (workdir / "lambda.log").open("a") as log:
        log.write(f"--- {fn.function_name} ({runtime}) ok={outcome['ok']}\n{logs}\n")
    return json.dumps(outcome["payload"]), not outcome["ok"], logs


def _failed(message: str, error_type: str) -> dict[str, Any]:
    return {"ok": False, "payload": {"errorMessage": message, "errorType": error_type}}


def _command(fn: Any, runtime: str, code: Path, workdir: Path, port: int) -> list[str]:
    if runtime.startswith("python"):
        # Unbuffered: what a function prints before it times out or dies is in its log, as in Lambda.
        return [sys.executable, "-u", "-c", PYTHON_BOOTSTRAP, str(code), fn.handler, str(workdir / VPC_MAP_FILE), DONE_MARKER]
    if runtime.startswith("nodejs"):
        return ["node", "-e", NODE_BOOTSTRAP, str(code), fn.handler, str(port), DONE_MARKER]
    raise RuntimeError(f"the rehearsal runs Python and Node functions only; {fn.function_name} is {runtime}")


def _environment(fn: Any, variables: dict[str, str], workdir: Path, port: int) -> dict[str, str]:
    """What the function's process sees: its deployed variables and what Lambda sets, aimed at this emulator."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        **variables,
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
        "AWS_ACCESS_KEY_ID": "rehearsal",
        "AWS_SECRET_ACCESS_KEY": "rehearsal",
        "AWS_SESSION_TOKEN": "rehearsal",
        "AWS_ENDPOINT_URL": f"http://localhost:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
        "REHEARSAL_FUNCTION_ARN": fn.function_arn,
        "NODE_PATH": str(NODE_MODULES),
    }


# --- the patches --------------------------------------------------------------------------------------------------------


def apply(workdir: Path, port: int) -> None:
    """Close moto's gaps for this app; called once in the server process before it serves."""
    from moto import settings
    from moto.awslambda import models as lambda_models

    # Custom-resource response URLs: moto names the Docker host; the functions run here.
    settings.moto_server_host = lambda: "http://localhost"  # type: ignore[assignment]

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        # Gap: moto's Lambda needs Docker. Run the deployed code here instead.
        self.logs_backend.ensure_log_group(self.logs_group_name)
        return run_function(self, event if event is not None else {}, workdir=workdir, port=port)

    lambda_models.LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
        # Real Lambda marks an uncaught error "Unhandled"; the Provider framework only checks that it is set.
        payload, errored, logs = self._invoke_lambda(event=json.loads(body) if body else {})
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        if request_headers.get("x-amz-invocation-type", "RequestResponse") == "RequestResponse":
            response_headers["x-amz-log-result"] = base64.b64encode(logs[-4096:].encode()).decode()
        return payload.encode()

    lambda_models.LambdaFunction.invoke = invoke  # type: ignore[method-assign]

    # Gap: an unsigned custom-resource response is routed to S3, not to CloudFormation.
    from moto.moto_server import werkzeug_app

    unsigned = werkzeug_app.DomainDispatcherApplication.get_service_from_unsigned_path

    def get_service_from_unsigned_path(path_info: str) -> tuple[str | None, str | None]:
        first = path_info.strip("/").split("/")[0]
        if first.startswith("cloudformation_") and path_info.rstrip("/").endswith("/cfnresponse"):
            return "cloudformation", first.removeprefix("cloudformation_")
        return unsigned(path_info)

    werkzeug_app.DomainDispatcherApplication.get_service_from_unsigned_path = staticmethod(get_service_from_unsigned_path)  # type: ignore[method-assign,assignment]

    _patch_cloudformation(workdir)
    _patch_kms()
    _patch_speed()
    _patch_ec2()
    _patch_elbv2()
    _patch_ssm()
    _patch_route53()
    _patch_iam()


REF_IS_ARN = frozenset({"AWS::SecretsManager::Secret", "AWS::SecretsManager::RotationSchedule", "AWS::WAFv2::WebACLAssociation"})


class StandIn:
    """A resource of a type moto does not model: a physical id and attributes, nothing behind them.

    moto drops such resources silently (a Ref to one resolves to nothing);
    a stand-in makes the stack complete, and is recorded so that the coverage
    table counts it as what it is.
    """

    def __init__(self, resource_type: str, logical_id: str, stack_id: str, region: str, account: str) -> None:
        self.cf_resource_type = resource_type
        self.logical_resource_id = logical_id
        service = resource_type.split("::")[1].lower()
        name = f"{logical_id}-standin-{uuid.uuid4().hex[:8]}"
        self.arn = f"arn:aws:{service}:{region}:{account}:standin/{name}"
        # Ref is the ARN for the types whose Ref CloudFormation documents as one; a name or id otherwise.
        self.physical_resource_id = self.arn if resource_type in REF_IS_ARN else name
        self.stack_id = stack_id

    def is_created(self) -> bool:
        return True

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn if attribute_name.endswith("Arn") else f"{self.physical_resource_id}.{attribute_name}"

    def delete(self, account_id: str, region_name: str) -> None:
        return None


class ResourceFailed(Exception):
    """One resource of a stack could not be created; the stack fails and rolls back."""

    def __init__(self, logical_id: str, resource_type: str, message: str) -> None:
        super().__init__(message)
        self.logical_id = logical_id
        self.resource_type = resource_type


class CustomResourceFailed(ResourceFailed):
    """A custom resource answered FAILED, or not at all; the message is CloudFormation's."""

    def __init__(self, resource: CustomResource, message: str) -> None:
        super().__init__(resource.logical_resource_id, resource.cf_resource_type, message)


# Custom-resource responses by RequestId, as the functions PUT them to the pre-signed URL.
_RESPONSES: dict[str, dict[str, Any]] = {}
_ARRIVED = threading.Condition()
# CloudFormation's own limit is an hour; a rehearsal that waits this long has failed.
RESPONSE_TIMEOUT_SECONDS = 120


class CustomResource:
    """CloudFormation's side of a custom resource: the request to the function, the wait for its response.

    Gap: moto invokes the function in the background and the stack is complete
    at once; a FAILED response is ignored, and no Delete is ever sent. Here each
    request waits for the response, as CloudFormation does; FAILED fails the
    stack with the function's reason.
    """

    def __init__(
        self, resource_type: str, logical_id: str, stack_id: str, region: str, account: str, properties: dict[str, Any]
    ) -> None:
        self.cf_resource_type = resource_type
        self.logical_resource_id = logical_id
        self.stack_id = stack_id
        self.region = region
        self.account = account
        self.properties = properties
        self.physical_resource_id = ""
        self.data: dict[str, Any] = {}

    def request(self, request_type: str, port: int, old_properties: dict[str, Any] | None = None) -> dict[str, Any]:
        from moto.awslambda.utils import get_backend as get_lambda_backend

        request_id = str(uuid.uuid4())
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": self.properties["ServiceToken"],
            "ResponseURL": f"http://localhost:{port}/cloudformation_{self.region}/cfnresponse?stack={self.stack_id}",
            "StackId": self.stack_id,
            "RequestId": request_id,
            "LogicalResourceId": self.logical_resource_id,
            "ResourceType": self.cf_resource_type,
            "ResourceProperties": self.properties,
        }
        if request_type != "Create":
            event["PhysicalResourceId"] = self.physical_resource_id
        if old_properties is not None:
            event["OldResourceProperties"] = old_properties
        fn = get_lambda_backend(self.account, self.region).get_function(self.properties["ServiceToken"])
        # CloudFormation invokes the function asynchronously and waits for the response.
        invocation = threading.Thread(
            target=fn.invoke, args=(json.dumps(event), {"x-amz-invocation-type": "Event"}, {}), daemon=True
        )
        invocation.start()
        with _ARRIVED:
            _ARRIVED.wait_for(lambda: request_id in _RESPONSES, timeout=RESPONSE_TIMEOUT_SECONDS)
            response = _RESPONSES.pop(request_id, None)
        if response is None:
            raise CustomResourceFailed(
                self, f"{self.logical_resource_id}: no response from the custom resource within {RESPONSE_TIMEOUT_SECONDS} s"
            )
        if response.get("Status") != "SUCCESS":
            raise CustomResourceFailed(
                self,
                f"Received response status [{response.get('Status')}] from custom resource. "
                f"Message returned: {response.get('Reason')} (RequestId: {request_id})",
            )
        return response

    def is_created(self) -> bool:
        return True

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.data:
            raise CustomResourceFailed(self, f"{self.logical_resource_id} returned no attribute {attribute_name}")
        return self.data[attribute_name]

    def delete(self, account_id: str, region_name: str) -> None:
        self.request("Delete", int(os.environ["MOTO_PORT"]))


def _custom_resource(
    logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str
) -> CustomResource:
    from moto.cloudformation import parsing

    properties = parsing.clean_json(resource_json.get("Properties", {}), resources_map)
    resource = CustomResource(resource_json["Type"], logical_id, resources_map.stack_id, region_name, account_id, properties)
    response = resource.request("Create", int(os.environ["MOTO_PORT"]))
    resource.physical_resource_id = response.get("PhysicalResourceId") or logical_id
    resource.data = response.get("Data") or {}
    return resource


def _record_stand_in(workdir: Path, stand_in: StandIn) -> None:
    path = workdir / STAND_INS_FILE
    record = json.loads(path.read_text()) if path.exists() else {}
    stack = stand_in.stack_id.split("/")[1]
    record.setdefault(stack, {})[stand_in.logical_resource_id] = stand_in.cf_resource_type
    path.write_text(json.dumps(record, indent=1, sort_keys=True))


def _patch_cloudformation(workdir: Path) -> None:
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import parsing

    # Gap: about 33 resource types have no model and are dropped silently.
    create = parsing.parse_and_create_resource

    def parse_and_create_resource(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str
    ) -> Any:
        # Gap: an error in one resource leaves moto's stack half made (and a retried CreateStack "already exists").
        try:
            return create_or_stand_in(logical_id, resource_json, resources_map, account_id, region_name)
        except ResourceFailed:
            raise
        except Exception as err:
            raise ResourceFailed(logical_id, resource_json["Type"], f"{type(err).__name__}: {err}") from err

    def create_or_stand_in(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str
    ) -> Any:
        resource_type = resource_json["Type"]
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return None
        # Gap: moto makes a resource on its first Ref or GetAtt, when a resource before it names it, and then
        # skips its DependsOn; CloudFormation creates every resource after all it depends on.
        depends_on = resource_json.get("DependsOn", [])
        for dependency in [depends_on] if isinstance(depends_on, str) else depends_on:
            resources_map[dependency]
        if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
            return _custom_resource(logical_id, resource_json, resources_map, account_id, region_name)
        if resource_type in parsing.get_model_map() or resource_type in parsing.NULL_MODELS:
            return create(logical_id, resource_json, resources_map, account_id, region_name)
        # Resolve the properties all the same: a broken reference still fails the stack.
        parsing.clean_json(resource_json.get("Properties", {}), resources_map)
        stand_in = StandIn(resource_type, logical_id, resources_map.stack_id, region_name, account_id)
        _record_stand_in(workdir, stand_in)
        return stand_in

    parsing.parse_and_create_resource = parse_and_create_resource

    # Gap: an output's Fn::GetAtt on a type with no model fails the whole stack (validate_outputs
    # asks the type's class, which is None); for that check, a stand-in answers every attribute.
    validate_outputs = parsing.ResourceMap.validate_outputs
    resource_class = parsing.resource_class_from_type

    def validate_outputs_with_stand_ins(self: Any) -> None:
        parsing.resource_class_from_type = lambda resource_type: resource_class(resource_type) or StandIn  # type: ignore[assignment,return-value]
        try:
            validate_outputs(self)
        finally:
            parsing.resource_class_from_type = resource_class

    parsing.ResourceMap.validate_outputs = validate_outputs_with_stand_ins  # type: ignore[method-assign]

    # Gap: Fn::GetStackOutput (the CDK's cross-region references) is not resolved.
    clean_json = parsing.clean_json

    def clean_json_with_stack_outputs(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and "Fn::GetStackOutput" in resource_json:
            ref = resource_json["Fn::GetStackOutput"]
            backend = cfn_models.cloudformation_backends[resources_map._account_id][ref.get("Region", resources_map._region_name)]
            stacks = [s for s in backend.stacks.values() if s.name == ref["StackName"] and "DELETE" not in s.status]
            if not stacks:
                raise cfn_models.ValidationError(
                    ref["StackName"], message=f"Stack {ref['StackName']} does not exist in {ref.get('Region')}"
                )
            for output in stacks[0].outputs or []:
                if output["OutputKey"] == ref["OutputName"]:
                    return output["OutputValue"]
            raise cfn_models.ValidationError(
                ref["StackName"], message=f"Stack {ref['StackName']} has no output {ref['OutputName']}"
            )
        return clean_json(resource_json, resources_map)

    parsing.clean_json = clean_json_with_stack_outputs

    # The functions' responses to the pre-signed URL: handed to the request that waits for them.
    from moto.cloudformation.responses import CloudFormationResponse

    def cfnresponse(cls: Any, request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, Any], str]:
        body = request.data if hasattr(request, "data") else request.body
        response = json.loads(body)
        with _ARRIVED:
            _RESPONSES[response["RequestId"]] = response
            _ARRIVED.notify_all()
        return 200, {}, ""

    CloudFormationResponse.cfnresponse = classmethod(cfnresponse)  # type: ignore[assignment,method-assign]

    # A failed resource fails the stack, which rolls back: every resource created is deleted again.
    create_resources = cfn_models.Stack.create_resources

    def create_resources_or_roll_back(self: Any) -> None:
        try:
            create_resources(self)
        except ResourceFailed as err:
            self._add_stack_event("CREATE_FAILED", resource_status_reason=str(err))
            self.events[-1].logical_resource_id = err.logical_id
            self.events[-1].resource_type = err.resource_type
            self.status = "ROLLBACK_IN_PROGRESS"
            self._add_stack_event(
                "ROLLBACK_IN_PROGRESS",
                resource_status_reason=f"The following resource(s) failed to create: [{err.logical_id}]. "
                "Rollback requested by user.",
            )
            try:
                self.resource_map.delete()
                left = None
            except Exception as stuck:
                # As in CloudFormation: a resource the rollback cannot delete leaves the stack ROLLBACK_FAILED,
                # and the request (accepted) reports the first failure, not this one.
                left = f"{type(stuck).__name__}: {stuck}"
            # moto's resource map creates a resource whenever it is read: a rolled back stack has none to read.
            self.resource_map._resource_json_map = {}
            self.output_map = cfn_models.OutputMap(self.resource_map, {}, self.stack_id)
            if left is None:
                self.status = "ROLLBACK_COMPLETE"
                self._add_stack_event("ROLLBACK_COMPLETE")
            else:
                self.status = "ROLLBACK_FAILED"
                self._add_stack_event("ROLLBACK_FAILED", resource_status_reason=f"The rollback left resources behind: {left}")

    cfn_models.Stack.create_resources = create_resources_or_roll_back  # type: ignore[method-assign]

    # Gap: template Rules are not evaluated. CloudFormation refuses the request when an assertion fails.
    backend_class = cfn_models.CloudFormationBackend
    create_stack, update_stack = backend_class.create_stack, backend_class.update_stack

    def create_stack_checked(self: Any, name: str, template: str, parameters: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        _check_rules(self, name, template, parameters)
        return create_stack(self, name, template, parameters, *args, **kwargs)

    def update_stack_checked(
        self: Any, name: str, template: str, role_arn: Any, parameters: list[dict[str, Any]], tags: Any
    ) -> Any:
        given = {p["ParameterKey"]: p["ParameterValue"] for p in parameters or [] if "ParameterValue" in p}
        _check_rules(self, name, template, given)
        return update_stack(self, name, template, role_arn, parameters, tags)

    backend_class.create_stack = create_stack_checked  # type: ignore[method-assign]
    backend_class.update_stack = update_stack_checked  # type: ignore[method-assign]

    # Gap: moto's CloudFormation works a whole stack operation inside the request, with module state shared
    # by every region's backend (and the stand-in patches above swap module functions for a moment), so two
    # at once (``cdk bootstrap`` of two regions, run in parallel by the CLI) can interleave. One at a time;
    # other requests (the functions' calls back into moto, their responses) are served meanwhile.
    for name in ("create_stack", "update_stack", "delete_stack", "create_change_set", "execute_change_set"):
        setattr(backend_class, name, _one_at_a_time(getattr(backend_class, name)))


_STACK_OPERATION = threading.Lock()


def _one_at_a_time(operation: Callable[..., Any]) -> Callable[..., Any]:
    def serialized(*args: Any, **kwargs: Any) -> Any:
        with _STACK_OPERATION:
            return operation(*args, **kwargs)

    return serialized


def _check_rules(backend: Any, name: str, template: str, parameters: dict[str, Any]) -> None:
    from moto.cloudformation.models import Stack, ValidationError
    from moto.ssm.models import ssm_backends

    from ops.rehearsal.rules import failed_assertions

    document = Stack.parse_template(template)
    values: dict[str, Any] = {}
    for key, declaration in (document.get("Parameters") or {}).items():
        value = parameters.get(key, declaration.get("Default"))
        if str(declaration.get("Type", "")).startswith("AWS::SSM::Parameter::Value") and value is not None:
            stored = ssm_backends[backend.account_id][backend.region_name].get_parameter(value)
            if stored is None:
                raise ValidationError(name, message=f"Parameter {key}: SSM parameter {value} does not exist")
            value = stored.value
        values[key] = value
    failed = failed_assertions(document, values)
    if failed:
        raise ValidationError(name, message="Template rules refused the request: " + "; ".join(failed))


def _patch_ec2() -> None:
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.vpc_peering_connections import VPCPeeringConnection
    from moto.ec2.models.vpcs import VPCEndPoint

    # Gap: PeerRegion (and PeerOwnerId) on peering are ignored: the peer VPC is looked up in the requester's region.
    def create_peering(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json["Properties"]
        backend = ec2_backends[account_id][region_name]
        peer_backend = ec2_backends[properties.get("PeerOwnerId", account_id)][properties.get("PeerRegion", region_name)]
        connection = backend.create_vpc_peering_connection(
            backend.get_vpc(properties["VpcId"]), peer_backend.get_vpc(properties["PeerVpcId"])
        )
        # Within one account CloudFormation's peering needs no accepter role: it becomes active.
        connection._status.accept()
        return connection

    VPCPeeringConnection.create_from_cloudformation_json = classmethod(create_peering)  # type: ignore[assignment,method-assign]

    # Gap: an interface endpoint answers no Fn::GetAtt; CloudFormation documents Id and DnsEntries
    # ("<hosted zone id>:<DNS name>", the regional name first), which the DR region's alias reads.
    def get_endpoint_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "Id":
            return self.id
        if attribute_name == "DnsEntries":
            entries = self.dns_entries if isinstance(self.dns_entries, list) else [self.dns_entries or {}]
            return [f"{e['hosted_zone_id']}:{e['dns_name']}" for e in entries if e]
        raise UnformattedGetAttTemplateException()

    VPCEndPoint.has_cfn_attr = classmethod(lambda cls, attr: attr in ("Id", "DnsEntries"))  # type: ignore[method-assign,assignment]
    VPCEndPoint.get_cfn_attribute = get_endpoint_attribute  # type: ignore[attr-defined]


# Route 53 alias targets name the load balancers' hosted zone: one fixed id per region and kind here.
HOSTED_ZONE_IDS = {"application": "ZALBREHEARSAL", "network": "ZNLBREHEARSAL"}


def _patch_elbv2() -> None:
    from moto.elbv2.models import FakeLoadBalancer, FakeTargetGroup, elbv2_backends

    # Gap: the load balancer's Type is ignored (so an NLB's TCP listeners are refused), and so are SubnetMappings.
    def create_load_balancer(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json["Properties"]
        return elbv2_backends[account_id][region_name].create_load_balancer(
            resource_name,
            properties.get("SecurityGroups"),
            properties.get("Subnets"),
            subnet_mappings=properties.get("SubnetMappings"),
            scheme=properties.get("Scheme", "internet-facing"),
            loadbalancer_type=properties.get("Type", "application"),
        )

    FakeLoadBalancer.create_from_cloudformation_json = classmethod(create_load_balancer)  # type: ignore[assignment,method-assign]

    # Gap: the GetAtts LoadBalancerFullName and CanonicalHostedZoneID are missing.
    load_balancer_attribute = FakeLoadBalancer.get_cfn_attribute

    def get_load_balancer_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "LoadBalancerFullName":
            return self.arn.split(":loadbalancer/", 1)[1]
        if attribute_name == "CanonicalHostedZoneID":
            return HOSTED_ZONE_IDS[self.type]
        if attribute_name == "SecurityGroups":
            return list(self.security_groups)
        return load_balancer_attribute(self, attribute_name)

    FakeLoadBalancer.get_cfn_attribute = get_load_balancer_attribute  # type: ignore[method-assign]

    # Gap: a target group's Targets are ignored, and its GetAtts are missing.
    create_target_group = FakeTargetGroup.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_target_group_with_targets(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        group = create_target_group(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        targets = cloudformation_json["Properties"].get("Targets")
        if targets:
            elbv2_backends[account_id][region_name].register_targets(group.arn, targets)
        return group

    FakeTargetGroup.create_from_cloudformation_json = classmethod(create_target_group_with_targets)  # type: ignore[assignment,method-assign]

    def get_target_group_attribute(self: Any, attribute_name: str) -> Any:
        values = {
            "TargetGroupFullName": self.arn.split(":", 5)[5],
            "TargetGroupName": self.name,
            "TargetGroupArn": self.arn,
            "LoadBalancerArns": list(self.load_balancer_arns),
        }
        return values[attribute_name]

    attributes = ("TargetGroupFullName", "TargetGroupName", "TargetGroupArn", "LoadBalancerArns")
    FakeTargetGroup.has_cfn_attr = classmethod(lambda cls, attr: attr in attributes)  # type: ignore[assignment,method-assign]
    FakeTargetGroup.get_cfn_attribute = get_target_group_attribute  # type: ignore[attr-defined]


def _patch_ssm() -> None:
    from moto.ssm.models import Document, Parameter

    # Gap: an AWS::SSM::Parameter's Tags are a map in CloudFormation; moto reads them as a list of Key/Value pairs.
    create_parameter = Parameter.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_parameter_with_map_tags(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = dict(cloudformation_json["Properties"])
        if isinstance(properties.get("Tags"), dict):
            properties["Tags"] = [{"Key": k, "Value": v} for k, v in properties["Tags"].items()]
        return create_parameter(
            cls, resource_name, {**cloudformation_json, "Properties": properties}, account_id, region_name, **kwargs
        )

    Parameter.create_from_cloudformation_json = classmethod(create_parameter_with_map_tags)  # type: ignore[assignment,method-assign]

    # Gap: SSM documents get no default DocumentFormat (CloudFormation's is JSON), and object Content is not serialised.
    create_document = Document.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_document_as_json(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = dict(cloudformation_json["Properties"])
        properties.setdefault("DocumentFormat", "JSON")
        if not isinstance(properties.get("Content"), str):
            properties["Content"] = json.dumps(properties.get("Content"))
        return create_document(
            cls, resource_name, {**cloudformation_json, "Properties": properties}, account_id, region_name, **kwargs
        )

    Document.create_from_cloudformation_json = classmethod(create_document_as_json)  # type: ignore[assignment,method-assign]


def _patch_route53() -> None:
    from moto.route53.models import FakeZone, HealthCheck

    # Gap: the GetAtts Id and NameServers of a hosted zone are missing (and one missing GetAtt in an
    # output makes DescribeStacks drop every output of the stack).
    def get_zone_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "Id":
            return self.id
        if attribute_name == "NameServers":
            return list(self.delegation_set.name_servers) if self.delegation_set else []
        raise KeyError(attribute_name)

    FakeZone.has_cfn_attr = classmethod(lambda cls, attr: attr in ("Id", "NameServers"))  # type: ignore[assignment,method-assign]
    FakeZone.get_cfn_attribute = get_zone_attribute  # type: ignore[attr-defined]

    # Gap: the GetAtt HealthCheckId of a Route 53 health check is missing.
    def get_health_check_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "HealthCheckId":
            return self.id
        raise KeyError(attribute_name)

    HealthCheck.has_cfn_attr = classmethod(lambda cls, attr: attr == "HealthCheckId")  # type: ignore[assignment,method-assign]
    HealthCheck.get_cfn_attribute = get_health_check_attribute  # type: ignore[attr-defined]


def _patch_kms() -> None:
    from moto.kms import models as kms_models

    # Gap: tagged KMS keys raise a KeyError: CloudFormation's Key/Value tags reach the TagKey/TagValue tagger.
    create_key = kms_models.KmsBackend.create_key

    def create_key_with_cfn_tags(
        self: Any, policy: Any, key_usage: Any, key_spec: Any, description: Any, tags: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if tags:
            tags = [{"TagKey": t.get("TagKey", t.get("Key")), "TagValue": t.get("TagValue", t.get("Value"))} for t in tags]
        return create_key(self, policy, key_usage, key_spec, description, tags, *args, **kwargs)

    kms_models.KmsBackend.create_key = create_key_with_cfn_tags  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    os.environ["MOTO_PORT"] = str(args.port)
    apply(args.workdir, args.port)
    atexit.register(stop_environments)
    from moto.server import main as moto_main

    moto_main(["-H", HOST, "-p", str(args.port)])


def _patch_speed() -> None:
    """Where moto spends the rehearsal's time without answering anything differently.

    - It lists its own package folder (about 150 stat calls) twice for every request to find the service.
    - It parses every template with pure-Python YAML, the CDK's JSON templates included, and a
      request parses the same template up to four times; a JSON template is read as JSON here, and
      YAML still takes what JSON does not.
    - It makes an RSA-2048 private key for every KMS key, the symmetric ones too, which only a
      Sign or Verify call of an asymmetric key reads; here it is made when first read.
    - werkzeug logs every request to the emulator log; warnings and errors are still logged.
    """
    import functools
    import logging

    import yaml
    from moto import backends
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import responses as cfn_responses
    from moto.kms import models as kms_models

    list_modules = backends.list_of_moto_modules
    backends.list_of_moto_modules = functools.cache(lambda: tuple(list_modules()))  # type: ignore[assignment]

    json_first = _JsonFirstYaml(yaml)
    cfn_models.yaml = json_first  # type: ignore[attr-defined]
    cfn_responses.yaml = json_first  # type: ignore[attr-defined]

    generate = kms_models.generate_private_key
    kms_models.generate_private_key = lambda key_spec: _OnFirstUse(lambda: generate(key_spec))  # type: ignore[assignment,return-value]

    logging.getLogger("werkzeug").setLevel(logging.WARNING)


class _JsonFirstYaml:
    """The ``yaml`` module as moto's CloudFormation sees it, with ``load`` reading JSON as JSON (JSON is YAML)."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def load(self, stream: Any, Loader: Any) -> Any:
        if isinstance(stream, str | bytes) and stream.lstrip()[:1] in ("{", b"{"):
            try:
                return json.loads(stream)
            except ValueError:
                pass
        return self._module.load(stream, Loader=Loader)


class _OnFirstUse:
    """An object made by ``make`` the first time one of its attributes is read."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._made: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._made is None:
            self._made = self._make()
        return getattr(self._made, name)


def _patch_iam() -> None:
    """Gap: a managed policy created with ``Roles`` is never deleted with its stack, so the role it is
    attached to cannot be deleted either (DeleteConflict). CloudFormation deletes the policy first (it
    depends on the role), detaching it from what it names; so does this."""
    from moto.iam import models as iam_models

    def delete(self: Any, account_id: str, region_name: str) -> None:
        for holder in [*self.backend.roles.values(), *self.backend.users.values(), *self.backend.groups.values()]:
            if self.arn in holder.managed_policies:
                self.detach_from(holder)
        self.backend.managed_policies.pop(self.arn, None)

    iam_models.ManagedPolicy.delete = delete  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
