"""A small HTTPS client of an OpenSearch Service domain that signs every request with SigV4.

Credentials are the function's own (its execution role); the domain's access
policy and fine-grained access control decide what that role may do. The
transport is a parameter so tests can answer as the domain would.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

SERVICE = "es"
TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


# (method, url, headers, body) -> Response
Transport = Callable[[str, str, dict[str, str], bytes | None], Response]


def urllib_transport(method: str, url: str, headers: dict[str, str], body: bytes | None) -> Response:
    """HTTPS with certificate and host name verification (the default context)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()) as answer:
            return Response(answer.status, answer.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.read())


class SearchError(RuntimeError):
    """The domain refused a request or answered with an error."""


class SearchClient:
    """Signed requests to ``https://<endpoint>``; ``request`` raises on a status outside ``ok``."""

    def __init__(self, endpoint: str, region: str, *, transport: Transport = urllib_transport, credentials: Any = None) -> None:
        if endpoint.startswith(("http://", "https://")):
            raise ValueError(f"the domain endpoint is a host name, without a scheme: {endpoint}")
        self.endpoint, self.region, self._transport = endpoint, region, transport
        self._credentials = credentials

    def _signed_headers(self, method: str, url: str, body: bytes | None, content_type: str) -> dict[str, str]:
        credentials = self._credentials or boto3.Session().get_credentials().get_frozen_credentials()
        request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": content_type})
        SigV4Auth(credentials, SERVICE, self.region).add_auth(request)
        return dict(request.headers.items())

    def request(
        self,
        method: str,
        path: str,
        document: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        ok: tuple[int, ...] = (200, 201),
    ) -> Response:
        if not path.startswith("/"):
            raise ValueError(f"a request path starts with /: {path}")
        url = f"https://{self.endpoint}{path}"
        body = raw if raw is not None else (json.dumps(document).encode() if document is not None else None)
        answer = self._transport(method, url, self._signed_headers(method, url, body, content_type), body)
        if answer.status not in ok:
            raise SearchError(f"{method} {path}: HTTP {answer.status}: {answer.body[:500].decode(errors='replace')}")
        return answer
