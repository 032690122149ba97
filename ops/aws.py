"""What the operator commands share: one error type, stack outputs, and calling the retarget function."""

from __future__ import annotations

import json
from typing import Any


class CliError(Exception):
    """An expected failure: printed as one line, exit code ``code`` (1 failed, 2 refused or misused)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def stack_outputs(cloudformation: Any, stack: str, names: tuple[str, ...], hint: str) -> dict[str, str]:
    """The named outputs of ``stack``; a missing output is a CliError naming it, then ``hint``.

    A missing stack is AWS's own error (botocore ClientError), which the CLI prints as such.
    """
    stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [n for n in names if n not in outputs]
    if missing:
        raise CliError(f"stack {stack} has no output {', '.join(missing)}: {hint}")
    return {n: outputs[n] for n in names}


def invoke_retarget(lambda_client: Any, function_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Invoke a retarget function synchronously; its result, or a CliError with its refusal."""
    response = lambda_client.invoke(
        FunctionName=function_name, InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
    )
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        message = body.get("errorMessage", body) if isinstance(body, dict) else body
        raise CliError(f"the retarget function {function_name} refused: {message}")
    return body if isinstance(body, dict) else {}
