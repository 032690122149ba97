"""A local SigV4 signing proxy to the log search domain, through a Session Manager tunnel (docs/operations.md).

    python -m ops.log_search_proxy --endpoint vpc-iris-logs-....eu-west-1.es.amazonaws.com --tunnel-port 9443
        [--listen-port 5601] [--aws-profile P] [--region R]

The domain is in the VPC and authorizes IAM only, so a browser cannot talk to
it: this proxy listens on 127.0.0.1 only, signs each request with the
operator's credentials for the domain's own host name, and sends it through
the tunnel (``AWS-StartPortForwardingSessionToRemoteHost`` to the domain's
443 on ``--tunnel-port``), verifying the domain's certificate against that
name, not against ``localhost``.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import ssl
import sys
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

LISTEN_HOST = "127.0.0.1"
# Headers that belong to one connection, or that the proxy sets itself.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host"}
SIGNED_OUT = {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}
TIMEOUT_SECONDS = 60

# (method, path, headers, body) -> (status, headers, body)
Upstream = Callable[[str, str, dict[str, str], bytes], tuple[int, list[tuple[str, str]], bytes]]


class TunnelConnection(http.client.HTTPSConnection):
    """HTTPS to ``127.0.0.1:port`` (the tunnel's end) whose TLS names and verifies ``server_name``."""

    def __init__(self, port: int, server_name: str, context: ssl.SSLContext) -> None:
        super().__init__(LISTEN_HOST, port, timeout=TIMEOUT_SECONDS, context=context)
        self._server_name, self._tls = server_name, context

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self._server_name)


def tunnel_upstream(endpoint: str, port: int, context: ssl.SSLContext | None = None) -> Upstream:
    tls = context or ssl.create_default_context()

    def send(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = TunnelConnection(port, endpoint, tls)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()

    return send


def signed_headers(
    method: str, endpoint: str, path: str, headers: dict[str, str], body: bytes, credentials: Any, region: str
) -> dict[str, str]:
    """``headers`` without the hop-by-hop ones and any signature the client sent, signed for ``endpoint``."""
    kept = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP | SIGNED_OUT}
    request = AWSRequest(method=method, url=f"https://{endpoint}{path}", data=body, headers={**kept, "Host": endpoint})
    SigV4Auth(credentials, "es", region).add_auth(request)
    return dict(request.headers.items())


def handler_class(endpoint: str, region: str, credentials: Any, upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            frozen = credentials.get_frozen_credentials() if hasattr(credentials, "get_frozen_credentials") else credentials
            headers = signed_headers(self.command, endpoint, self.path, dict(self.headers.items()), body, frozen, region)
            try:
                status, answer_headers, answer = upstream(self.command, self.path, headers, body)
            except OSError as error:  # the tunnel is down, or the certificate is not the domain's
                status, answer_headers, answer = 502, [("Content-Type", "text/plain")], f"tunnel: {error}\n".encode()
            self.send_response(status)
            for key, value in answer_headers:
                if key.lower() not in HOP_BY_HOP | {"content-length"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _relay

        def log_message(self, format: str, *args: Any) -> None:  # the base class's name
            sys.stderr.write(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")

    return Handler


def serve(endpoint: str, region: str, credentials: Any, upstream: Upstream, port: int) -> ThreadingHTTPServer:
    """The proxy's server on 127.0.0.1:``port`` (0: any free port); call ``serve_forever`` on it."""
    return ThreadingHTTPServer((LISTEN_HOST, port), handler_class(endpoint, region, credentials, upstream))


def region_of(endpoint: str) -> str | None:
    """``vpc-<name>-<id>.<region>.es.amazonaws.com`` -> ``<region>``."""
    parts = endpoint.split(".")
    return parts[1] if len(parts) >= 4 and parts[2] == "es" else None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ops.log_search_proxy", description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True, help="the domain's VPC endpoint (the stack's DomainEndpoint output)")
    p.add_argument("--tunnel-port", type=int, required=True, help="the local port of the Session Manager tunnel")
    p.add_argument("--listen-port", type=int, default=5601, help="where the proxy listens on 127.0.0.1 (default 5601)")
    p.add_argument("--aws-profile", default=None)
    p.add_argument("--region", default=None, help="default: read from the endpoint")
    args = p.parse_args(argv)
    if args.endpoint.startswith(("http://", "https://")) or "/" in args.endpoint:
        print(f"--endpoint is a host name, without scheme or path: {args.endpoint}", file=sys.stderr)
        return 2
    region = args.region or region_of(args.endpoint)
    if region is None:
        print(f"--region is needed: {args.endpoint} does not name one", file=sys.stderr)
        return 2
    credentials = boto3.Session(profile_name=args.aws_profile).get_credentials()
    if credentials is None:
        print("no AWS credentials: sign in (aws sso login) or pass --aws-profile", file=sys.stderr)
        return 2
    server = serve(args.endpoint, region, credentials, tunnel_upstream(args.endpoint, args.tunnel_port), args.listen_port)
    print(f"http://{LISTEN_HOST}:{server.server_port}/_dashboards -> {args.endpoint} through 127.0.0.1:{args.tunnel_port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
