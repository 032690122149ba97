"""Stand-ins for what a member host's scripts call: docker (with IRIS in its
container), the AWS CLI, hostnamectl, logger and the volume mounter.

They behave like the real tools where the scripts depend on them:
- ``docker exec -i iris iris session IRIS -U %SYS`` reads ObjectScript lines
  from stdin until ``halt`` (end of input without it is an error, as in
  IRIS), answers the few statements the scripts use and rejects others;
- ``docker run`` of the IRIS image applies the merge file named by
  ``ISC_CPF_MERGE_FILE`` as IRIS would: it refuses a file the CPF reader
  cannot read or whose password hashes are not PBKDF2 values, and
  ``ConfigMirror`` makes the instance primary, backup (once the primary
  accepts it) or a connected async member;
- the merge refuses an action IRIS does not have, a ``CreateSSLConfig``
  property ``Security.SSLConfigs`` does not have or whose file the container
  cannot see (through its ``-v`` mounts), and ``ConfigMirror`` with
  ``UseSSL=1`` when ``%MirrorServer`` or ``%MirrorClient`` does not exist;
  Create actions skip what exists, and ``ConfigMirror`` changes nothing once
  the mirror exists;
- ``docker run`` of a name that exists fails; ``docker exec`` into a stopped
  container fails;
- ``aws ssm put-parameter`` of an existing name fails (no --overwrite), as do
  reads of missing secrets and parameters;
- an async DR member's session (iris/dr_member.sh) answers its status, the
  primary it knows of and ``PromoteWithNoPartner()`` from ``iris.dr`` in the
  state; statements after the first ``halt`` are never run;
- the ``iris`` command of a kit-installed instance (the ECP clients):
  ``iris qlist`` reports it running or down, ``iris start`` applies the file
  named by ``ISC_CPF_MERGE_FILE`` at that start, ``iris merge`` applies a
  file to a running instance only, and ``iris session`` reads stdin until
  ``halt``; a merge's ``CreateSSLConfig`` is refused when a file it names
  does not exist, as IRIS cannot load it;
- ``aws acm-pca issue-certificate`` takes the CSR from a ``fileb://`` file,
  refuses one that the real ``openssl req -verify`` does not accept, signs it
  with a test CA (real openssl, the CSR's names copied), and
  ``get-certificate`` answers RequestInProgressException until the
  certificate is issued; a CA given an error answers every call with it.
Every call is recorded with its arguments in a JSON state file.

``docker``, ``aws`` and ``iris`` in the host's ``bin/`` are bash clients of the test process's stub
server (tests/stub_server.py): each call runs ``docker_main``, ``aws_main`` or ``iris_main`` in a
worker of the server with the caller's arguments, environment, working directory and umask, its
stdin read only where the real tool reads it, and its exit status, stdout and stderr passed back
through the caller's own descriptors. ``iris-password-hash`` runs the product's iris/password_hash.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

ROOT = Path(__file__).resolve().parent.parent
HASH = re.compile(r"^[0-9a-f]{128},[0-9a-f]{128},10000,SHA512$")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(path)


@contextmanager
def _locked(path: Path) -> Iterator[dict[str, Any]]:
    """The state, read and written back under an exclusive lock: the scripts run stubs in pipelines."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = _load(path)
        try:
            yield state
        finally:
            _save(path, state)


# --------------------------------------------------------------------------
# docker, and IRIS inside its container
# --------------------------------------------------------------------------


# [Actions] of the CPF reference (RACS) and GCMF; anything else is refused.
KNOWN_ACTIONS = frozenset(
    f"{verb}{noun}"
    for noun in (
        "Application", "Comport", "Database", "DatabaseFile", "Device", "DeviceSubType", "DocDB", "ECPServer", "Event",
        "LDAPConfig", "LicenseServer", "MagTapes", "MapGlobal", "MapPackage", "MapRoutine", "Mirror", "Namespace",
        "Resource", "Role", "SqlSysDatatype", "SqlUserDatatype", "SSLConfig", "Server", "User",
    )
    for verb in ("Create", "Delete", "Modify")
) | {
    "ConfigMirror", "ConfigShardedCluster", "Execute", "GrantAdminPrivilege", "GrantPrivilege", "ModifyConfig", "ModifyECP",
    "ModifyJournal", "ModifyMirrorMember", "ModifyMiscellaneous", "ModifyMonitor", "ModifyService", "ModifySQL",
    "ModifyStartup", "ModifySystem", "RevokePrivilege",
}  # fmt: skip
# Properties of Security.SSLConfigs (class reference).
SSL_CONFIG_PROPERTIES = frozenset(
    {
        "Name", "Description", "Enabled", "Type", "VerifyPeer", "VerifyDepth", "TLSMinVersion", "TLSMaxVersion", "CAFile",
        "CAPath", "CertificateFile", "PrivateKeyFile", "PrivateKeyType", "PrivateKeyPassword", "CipherList", "Ciphersuites",
        "CRLFile", "DiffieHellmanBits", "OCSP", "OCSPIssuerCert", "OCSPResponseFile", "OCSPTimeout", "OCSPURL", "AuthorizeCN",
    }
)  # fmt: skip
SSL_CONFIG_FILES = ("CAFile", "CertificateFile", "PrivateKeyFile")
# What iris/dr_member.sh asks an async DR member (SYS.Mirror and %SYSTEM.Mirror).
DR_STATUS_STATEMENT = (
    'write "IRIS_DR|",$SYSTEM.Mirror.GetMemberType(),"|",$SYSTEM.Mirror.GetStatus(),"|",'
    '##class(SYS.Mirror).DistanceFromPrimaryJournalFiles(),"|",##class(SYS.Mirror).DistanceFromPrimaryDatabases(),!'
)
DR_PRIMARY_STATEMENT = (
    'do ##class(SYS.Mirror).GetFailoverMemberStatus(.a,.b) write "IRIS_DR_PRIMARY|",'
    '$select($listget(a,3)="Primary":$listget(a,1),$listget(b,3)="Primary":$listget(b,1),1:""),!'
)
DR_PROMOTE_STATEMENT = 'write "IRIS_DR_PROMOTED|",##class(SYS.Mirror).PromoteWithNoPartner(),!'
STATUS_TEXT = r'\$select\(\$system\.Status\.IsOK\(sc\):"OK",1:\$system\.Status\.GetErrorText\(sc\)\),!'


def _host_path(mounts: list[str], path: str) -> Path | None:
    """Where a path inside the container is on the host, through the container's ``-v src:dst[:ro]`` mounts."""
    for mount in mounts:
        source, target = mount.split(":")[:2]
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return Path(source + path[len(target.rstrip("/")) :])
    return None


def _apply_merge(state: dict[str, Any], text: str, mounts: list[str] | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.cpf import parse

    iris = state["iris"]
    iris["merges"].append(text)
    try:
        merge = parse(text)
    except ValueError as err:
        iris["errors"].append(f"merge file rejected: {err}")
        return
    if "{{" in text:
        iris["errors"].append("merge file holds an unfilled marker")
        return
    startup = merge.sections.get("Startup", {}).get("PasswordHash")
    users = [a.params.get("PasswordHash") for a in merge.action("ModifyUser")]
    if any(h is not None and not HASH.match(h) for h in (startup, *users)):
        iris["errors"].append("PasswordHash is not hash,salt,10000,SHA512")
        return
    unknown = sorted({a.name for a in merge.actions} - KNOWN_ACTIONS)
    if unknown:
        iris["errors"].append(f"merge file rejected: unknown action {', '.join(unknown)}")
        return
    for name, value in merge.sections.get("ECPServers", {}).items():
        address, port, mirror_connection, ssl_flag = [*value.split(","), "", "", ""][:4]
        iris.setdefault("ecp_servers", {})[name] = {
            "address": address,
            "port": port,
            "mirror_connection": mirror_connection,
            "ssl": ssl_flag,
        }
    ssl = iris.setdefault("ssl_configs", {})
    for config in merge.action("CreateSSLConfig"):
        name = config.params.get("Name", "")
        bad = sorted(set(config.params) - SSL_CONFIG_PROPERTIES)
        if bad:
            iris["errors"].append(f"CreateSSLConfig {name}: {', '.join(bad)} is not a property of Security.SSLConfigs")
            return
        # A container sees the host through its -v mounts; a native instance sees the host itself
        # (absolute paths under the test's fake root).
        root = Path(os.environ.get("HOST_ROOT", "/"))
        files = [config.params[k] for k in SSL_CONFIG_FILES if k in config.params]
        found = {f: _host_path(mounts, f) if mounts else root / f.lstrip("/") for f in files}
        missing = [f for f, path in found.items() if path is None or not path.is_file()]
        if missing:
            iris["errors"].append(f"SSL/TLS configuration {name}: no file {', '.join(missing)}")
            continue
        # A Create action finds an existing object and changes nothing.
        ssl.setdefault(name, config.params)
    for system in merge.action("ModifySystem"):
        iris.setdefault("system", {}).update({k: v for k, v in system.params.items() if k != "Name"})
    for server in merge.action("ModifyServer"):
        iris.setdefault("superservers", {})[server.params["Port"]] = server.params
    for db in merge.action("CreateDatabase"):
        iris.setdefault("databases", {}).setdefault(db.params["Name"], db.params)
    for ns in merge.action("CreateNamespace"):
        iris.setdefault("namespaces", {}).setdefault(ns.params["Name"], ns.params)
    for mirror in merge.action("ConfigMirror"):
        if mirror.params.get("UseSSL") == "1" and not {"%MirrorServer", "%MirrorClient"} <= set(ssl):
            iris["errors"].append("ConfigMirror: UseSSL needs the %MirrorServer and %MirrorClient SSL/TLS configurations")
            return
        iris.setdefault("mirror_config", mirror.params)  # ConfigMirror changes nothing once the mirror exists
        iris["mirror"] = mirror.params["Name"]
        member = mirror.params["Member"]
        if member == "primary":
            iris["status"] = "Primary"
        elif state["primary_accepts_after"] > 0:
            state["primary_accepts_after"] -= 1  # the primary has no mirror yet
        else:
            iris["status"] = "Backup" if member == "backup" else "Connected"
            iris["joined_via"] = mirror.params["Primary"]


def _session(state: dict[str, Any], lines: list[str]) -> int:
    iris = state["iris"]
    out = []
    loaded = authorized = False
    saved: str | None = None
    for line in lines:
        line = line.rstrip("\n")
        if line == "halt":
            # A piped session prints its prompt before each command's output, as IRIS does.
            print("\n".join(f"%SYS>{o}" for o in out))
            return 0
        if line == 'write "IRIS-"_"UP",!':
            out.append("IRIS-UP")
        elif m := re.fullmatch(r'write "MIRROR-"_"STATE ",\$listget\(\$SYSTEM\.Mirror\.GetMemberStatus\("(\w+)"\),1\),!', line):
            out.append("MIRROR-STATE " + (iris["status"] if iris.get("mirror") == m[1] else "Not Initialized"))
        elif m := re.fullmatch(r'set sc=\$system\.OBJ\.Load\("([^"]+)","ck-d"\)', line):
            loaded = Path(m[1]).is_file()
        elif (
            line.startswith("if ##class(SYS.LogDmn).Status()<=0 { set sc=##class(SYS.LogDmn).Start() ")
            and 'write "LOG"_"DMN ' in line
        ):
            out.append("LOGDMN running" if iris.get("logdmn") else "LOGDMN started")
            iris["logdmn"] = True
        elif m := re.fullmatch(
            r'write "ECP-"_"CHECK ",##class\(Config\.ECPServers\)\.Exists\("(\w+)"\),'
            r'##class\(Security\.SSLConfigs\)\.Exists\("%ECPClient"\),!',
            line,
        ):
            servers, configs = iris.get("ecp_servers", {}), iris.get("ssl_configs", {})
            out.append(f"ECP-CHECK {int(m[1] in servers)}{int('%ECPClient' in configs)}")
        elif line == "set sc=##class(SYS.Mirror).AuthorizePendingMembers()":
            authorized = iris.get("status") == "Primary"
            if authorized:
                iris["authorizations"] = iris.get("authorizations", 0) + 1
        elif line.startswith('write "AUTHORIZE-"_"PENDING ",'):
            out.append("AUTHORIZE-PENDING " + ("OK" if authorized else "ERROR #2088: this member is not the primary"))
        elif m := re.fullmatch(
            r'kill p set sc=##class\(Security\.SSLConfigs\)\.Get\("([^"]+)",\.p\) '
            r'set:sc sc=##class\(Security\.SSLConfigs\)\.Modify\("\1",\.p\)',
            line,
        ):
            saved = m[1] if m[1] in iris.get("ssl_configs", {}) else None
            if saved:
                iris.setdefault("ssl_saves", []).append(saved)
        elif m := re.fullmatch(r'write "TLS-"_"RELOAD ([^ ]+) ",' + STATUS_TEXT, line):
            out.append(
                f"TLS-RELOAD {m[1]} " + ("OK" if saved == m[1] else f"ERROR #5809: SSL configuration {m[1]} does not exist")
            )
        elif line == DR_STATUS_STATEMENT and "dr" in iris:
            dr = iris["dr"]
            out.append(f"IRIS_DR|{dr['type']}|{dr['status']}|{dr['journal']}|{dr['databases']}")
        elif line == DR_PRIMARY_STATEMENT and "dr" in iris:
            out.append(f"IRIS_DR_PRIMARY|{iris['dr']['primary']}")
        elif line == DR_PROMOTE_STATEMENT and "dr" in iris:
            dr = iris["dr"]
            promoted = dr["type"] == "Disaster Recovery" and dr.get("promotable", True)
            if promoted:
                dr.update(type="Failover", status="PRIMARY", primary=dr["name"])
                dr["promotions"] = dr.get("promotions", 0) + 1
            out.append(f"IRIS_DR_PROMOTED|{int(promoted)}")
        elif line.startswith('write "ZMIRROR-"_"LOAD ",'):
            iris["zmirror_loaded"] = loaded
            out.append("ZMIRROR-LOAD " + ("OK" if loaded else "ERROR #5012: file does not exist"))
        else:
            out.append(f"<SYNTAX> {line}")
    print("\n".join(f"%SYS>{o}" for o in out))
    print("<ENDOFFILE>: the session's input ended without halt", file=sys.stderr)
    return 1


def docker_main(argv: list[str]) -> int:
    # Input first, outside the lock: the other end of the pipe may be a stub too.
    stdin = sys.stdin.read() if argv[0] == "login" or argv[:2] == ["exec", "-i"] else ""
    with _locked(Path(os.environ["HOST_STATE"])) as state:
        state["docker_calls"].append(argv)
        return _docker(state, argv, stdin)


def _docker(state: dict[str, Any], argv: list[str], stdin: str) -> int:
    command, args = argv[0], argv[1:]
    containers = state["containers"]
    if command == "image":  # image inspect IMAGE
        return 0 if args[1] in state["images"] else 1
    if command == "login":
        if "--password-stdin" not in args or not stdin.strip():
            print("Error: Cannot perform an interactive login from a non TTY device", file=sys.stderr)
            return 1
        state["logged_in"] = True
        return 0
    if command == "pull":
        image = args[-1]
        if not state.get("logged_in"):
            print(f"Error response from daemon: pull access denied for {image}", file=sys.stderr)
            return 1
        state["images"].append(image)
        return 0
    if command == "rm":
        containers.pop(args[-1], None)
        return 0
    if command == "stop":
        if args[-1] in containers:
            containers[args[-1]]["running"] = False
            if args[-1] == "iris":
                state["iris"]["up"] = False
        return 0
    if command == "run":
        options: dict[str, list[str]] = {}
        i = 0
        while args[i].startswith("-"):
            flag = args[i]
            if flag in ("-d", "--rm", "--init"):
                i += 1
                continue
            options.setdefault(flag, []).append(args[i + 1])
            i += 2
        image, rest = args[i], args[i + 1 :]
        name = options["--name"][0]
        if name in containers:
            print(
                f'docker: Error response from daemon: Conflict. The container name "/{name}" is already in use.', file=sys.stderr
            )
            return 125
        if image not in state["images"]:
            print(f"docker: Error response from daemon: pull access denied for {image}", file=sys.stderr)
            return 125
        env = dict(e.split("=", 1) for e in options.get("-e", []))
        containers[name] = {"running": True, "image": image, "env": env, "args": rest, "options": options}
        if name == "iris":
            state["iris"]["up"] = True
            if "ISC_CPF_MERGE_FILE" in env:
                _apply_merge(state, Path(env["ISC_CPF_MERGE_FILE"]).read_text(), options.get("-v", []))
        print("0123456789ab")
        return 0
    if command == "exec":
        interactive = args[0] == "-i"
        if interactive:
            args = args[1:]
        name, cmd = args[0], args[1:]
        if not containers.get(name, {}).get("running"):
            print(f"Error response from daemon: container {name} is not running", file=sys.stderr)
            return 1
        if cmd[:2] == ["iris", "session"]:
            if not interactive:
                print("<ENDOFFILE>", file=sys.stderr)
                return 1
            state["sessions"] += 1
            return _session(state, stdin.splitlines())
        if cmd[:2] == ["iris", "merge"]:
            _apply_merge(state, Path(cmd[3]).read_text(), containers[name]["options"].get("-v", []))
            return 0
    print(f"docker stub: unsupported call {argv}", file=sys.stderr)
    return 2


# --------------------------------------------------------------------------
# The iris command of a kit-installed instance (ECP application and print servers)
# --------------------------------------------------------------------------


def iris_main(argv: list[str]) -> int:
    stdin = sys.stdin.read() if argv[:1] == ["session"] else ""
    with _locked(Path(os.environ["HOST_STATE"])) as state:
        state["iris_calls"].append({"argv": argv, "merge_file": os.environ.get("ISC_CPF_MERGE_FILE")})
        return _iris(state, argv, stdin)


def _iris(state: dict[str, Any], argv: list[str], stdin: str) -> int:
    command, args = argv[0], argv[1:]
    iris = state["iris"]
    if not args or args[0] != state["instance"]:
        print(f"iris: instance {args[0] if args else ''} not found", file=sys.stderr)
        return 1
    if command == "qlist":
        since = "running, since Tue Dec  1 09:00:00 2026" if iris["up"] else "down, last used Tue Dec  1 08:00:00 2026"
        print(f"{args[0]}^/usr/irissys^2025.1.0.223.0^{since}^iris.cpf^1972^0^0^ok^IRIS^^^/usr/irissys")
        return 0
    if command == "start":
        if iris["up"]:
            print(f"InterSystems IRIS instance {args[0]} is already running", file=sys.stderr)
            return 1
        merge_file = os.environ.get("ISC_CPF_MERGE_FILE")
        if merge_file:
            _apply_merge(state, Path(merge_file).read_text())
        iris["up"] = True
        return 0
    if command == "stop":
        iris["up"] = False
        return 0
    if command == "merge":
        if not iris["up"]:
            # The documented use is a running instance; a stopped one is left as it was.
            print(f"iris merge: instance {args[0]} is not running", file=sys.stderr)
            return 1
        errors = len(iris["errors"])
        _apply_merge(state, Path(args[1]).read_text())
        return 1 if len(iris["errors"]) > errors else 0
    if command == "session":
        if not iris["up"]:
            print(f"<Startup Error>: instance {args[0]} is down", file=sys.stderr)
            return 1
        state["sessions"] += 1
        return _session(state, stdin.splitlines())
    print(f"iris stub: unsupported call {argv}", file=sys.stderr)
    return 2


def install_iris(bin_dir: Path, state_file: Path, *, secrets: dict[str, str], instance: str = "IRIS", up: bool = False) -> None:
    """A kit-installed host: the ``iris`` command and a fresh instance (down, unless ``up``),
    the AWS CLI and ``iris-password-hash``; their state lives in ``state_file``."""
    python = sys.executable
    _python_stub(bin_dir / "iris", "iris_main")
    _python_stub(bin_dir / "aws", "aws_main")
    _executable(bin_dir / "iris-password-hash", f"#!/bin/bash\nexec {python} {ROOT / 'iris' / 'password_hash.py'}\n")
    _save(
        state_file,
        {
            "instance": instance,
            "iris": {"up": up, "status": "Not Initialized", "merges": [], "errors": []},
            "primary_accepts_after": 0,
            "iris_calls": [],
            "sessions": 0,
            "secrets": secrets,
            "parameters": {},
            "objects": {},
            "aws_calls": [],
        },
    )


# --------------------------------------------------------------------------
# The AWS CLI
# --------------------------------------------------------------------------


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def aws_main(argv: list[str]) -> int:
    with _locked(Path(os.environ["HOST_STATE"])) as state:
        state["aws_calls"].append(argv)
        return _aws(state, argv)


def _aws(state: dict[str, Any], argv: list[str]) -> int:
    service, operation, args = argv[0], argv[1], argv[2:]
    if (service, operation) == ("secretsmanager", "get-secret-value"):
        secret = state["secrets"].get(_option(args, "--secret-id"))
        if secret is None:
            print("An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation", file=sys.stderr)
            return 254
        print(secret)
        return 0
    if (service, operation) == ("ssm", "get-parameter"):
        if state.get("ssm_error"):
            print(state["ssm_error"], file=sys.stderr)
            return 255
        value = state["parameters"].get(_option(args, "--name"))
        if value is None:
            print("An error occurred (ParameterNotFound) when calling the GetParameter operation", file=sys.stderr)
            return 254
        print(value)
        return 0
    if (service, operation) == ("ssm", "put-parameter"):
        name = _option(args, "--name")
        if name in state["parameters"] and "--overwrite" not in args:
            print("An error occurred (ParameterAlreadyExists) when calling the PutParameter operation", file=sys.stderr)
            return 254
        state["parameters"][name] = _option(args, "--value")
        return 0
    if service == "acm-pca":
        return _private_ca(state, operation, args)
    if (service, operation) == ("ecr", "get-login-password"):
        print("ecr-token")
        return 0
    if (service, operation) == ("s3", "cp"):
        source, target = [a for a in args if not a.startswith("--")][-2:]
        Path(target).write_text(state["objects"][source])
        return 0
    print(f"aws stub: unsupported call {argv}", file=sys.stderr)
    return 2


def _pca_error(code: str, operation: str, message: str) -> int:
    print(f"\nAn error occurred ({code}) when calling the {operation} operation: {message}", file=sys.stderr)
    return 254


def _queried(args: list[str], fields: dict[str, str | None]) -> int:
    """Print ``--query FIELD --output text`` of a response as the CLI does (None for a missing field)."""
    value = fields.get(_option(args, "--query"))
    print("None" if value is None else value.rstrip("\n"))
    return 0


def _private_ca(state: dict[str, Any], operation: str, args: list[str]) -> int:
    pca = state["pca"]
    name = "".join(part.title() for part in operation.split("-"))
    if pca.get("error"):
        code, message = pca["error"]
        return _pca_error(code, name, message)
    if _option(args, "--certificate-authority-arn") != pca["arn"]:
        return _pca_error("ResourceNotFoundException", name, "Could not find certificate authority")
    if "--region" not in args or _option(args, "--region") != pca["region"]:
        return _pca_error("ResourceNotFoundException", name, "Could not find certificate authority in this region")
    if operation == "issue-certificate":
        csr = _option(args, "--csr")
        if not csr.startswith("fileb://"):
            return _pca_error("MalformedCSRException", name, "The CSR is not a file:// or fileb:// blob")
        text = Path(csr.removeprefix("fileb://")).read_text()
        pca["sent"].append(text)
        import subprocess  # only here and on the harness side: every tool call would pay for it

        check = subprocess.run(["openssl", "req", "-noout", "-verify"], input=text, capture_output=True, text=True)
        if check.returncode != 0:
            return _pca_error("MalformedCSRException", name, "The certificate signing request is not valid")
        if _option(args, "--template-arn") != pca["template_arn"]:
            return _pca_error("InvalidArgsException", name, "The template ARN is not allowed")
        validity = dict(kv.split("=") for kv in _option(args, "--validity").split(","))
        signed = subprocess.run(
            ["openssl", "x509", "-req", "-CA", pca["ca_crt"], "-CAkey", pca["ca_key"], "-CAcreateserial",
             "-days", validity["Value"], "-copy_extensions", "copyall"],
            input=text, capture_output=True, text=True, check=True,
        )  # fmt: skip
        arn = f"{pca['arn']}/certificate/{len(pca['issued']):032x}"
        pca["issued"][arn] = {"pem": signed.stdout, "pending": pca["pending_polls"], "days": int(validity["Value"])}
        print(arn)
        return 0
    if operation == "get-certificate":
        issued = pca["issued"].get(_option(args, "--certificate-arn"))
        if issued is None:
            return _pca_error("ResourceNotFoundException", name, "Could not find certificate")
        if issued["pending"] > 0:
            issued["pending"] -= 1
            return _pca_error("RequestInProgressException", name, "The request to issue the certificate is still in progress")
        return _queried(args, {"Certificate": issued["pem"], "CertificateChain": Path(pca["ca_crt"]).read_text()})
    if operation == "get-certificate-authority-certificate":
        return _queried(args, {"Certificate": Path(pca["ca_crt"]).read_text(), "CertificateChain": None})
    print(f"aws stub: unsupported call acm-pca {operation} {args}", file=sys.stderr)
    return 2


_CA_FILES: dict[str, bytes] = {}  # the test process's one root CA: an RSA key costs openssl about half a second


def make_private_ca(directory: Path, *, arn: str, region: str, template_arn: str) -> dict[str, Any]:
    """A real root CA (key and self-signed certificate, made by openssl once per test process) in
    ``directory``, as the acm-pca stub's state."""
    directory.mkdir(parents=True, exist_ok=True)
    key, crt = directory / "ca.key", directory / "ca.crt"
    if not _CA_FILES:
        import subprocess

        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30", "-subj", "/CN=Test private CA",
             "-keyout", str(key), "-out", str(crt)],
            capture_output=True, check=True,
        )  # fmt: skip
        _CA_FILES.update({"ca.key": key.read_bytes(), "ca.crt": crt.read_bytes()})
    else:
        key.write_bytes(_CA_FILES["ca.key"])
        crt.write_bytes(_CA_FILES["ca.crt"])
    return {
        "arn": arn,
        "region": region,
        "template_arn": template_arn,
        "ca_key": str(key),
        "ca_crt": str(crt),
        "issued": {},
        "sent": [],
        "pending_polls": 2,
        "error": None,
    }


# --------------------------------------------------------------------------
# The host
# --------------------------------------------------------------------------


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


# The real sleep, for the stand-in that takes its name on a host's PATH.
SLEEP = shutil.which("sleep") or "/bin/sleep"
# How much faster a host's clock runs than the test's: a script's 1 s poll sleeps 50 ms.
CLOCK_SPEED = 20


def _fast_sleep(bin_dir: Path) -> None:
    """``sleep`` for a script on the host: each wait is recorded (``sleeps``, in seconds as asked) and
    lasts 1/CLOCK_SPEED of it. What the scripts wait for (IRIS up, a peer's agent, the primary's mirror)
    the stand-ins decide by the count of polls or by the test, never by the clock; so only the wait
    shrinks, and a script's timeouts (counted from its own sleeps) still end its loops."""
    _executable(
        bin_dir / "sleep",
        '#!/bin/bash\necho "$*" >> "$(dirname "$HOST_STATE")/sleeps"\n'
        f'exec {SLEEP} "$(awk -v s="$1" \'BEGIN {{ printf "%.3f", s / {CLOCK_SPEED} }}\')"\n',
    )


def _python_stub(path: Path, main: str) -> None:
    """A command running ``main`` of this module, in the stub server (tests/stub_server.py): a script
    under test calls these tools many times, and a Python start with these imports costs ~70 ms of CPU."""
    from tests.stub_server import client

    client(path, f"tests.host_stubs:{main}")


def stub(bin_dir: Path, name: str, body: str) -> None:
    """A bash command ``name`` in ``bin_dir`` running ``body``."""
    _executable(bin_dir / name, "#!/bin/bash\n" + body)


class Host:
    """A member host in a temporary directory: /etc/iris-aws, /iris, /run/iris-aws and the stubs on PATH."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def conf(self) -> Path:
        return self.root / "etc"

    @property
    def iris_root(self) -> Path:
        return self.root / "iris"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def tls_dir(self) -> Path:
        """/etc/iris-tls: what the host certificate script leaves (docs: the TLS contract)."""
        return self.root / "tls"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def state(self) -> dict[str, Any]:
        return _load(self.state_file)

    def update(self, **values: Any) -> None:
        with _locked(self.state_file) as state:
            state.update(values)

    def reboot(self) -> None:
        """A new boot: tmpfs is empty, no container runs, IRIS is down; the volumes keep what they hold."""
        for child in self.run_dir.glob("*"):
            child.unlink()
        state = self.state()
        state["containers"] = {}
        state["iris"]["up"] = False
        state["iris"]["logdmn"] = False  # a daemon of the instance, gone with it
        _save(self.state_file, state)

    def run(
        self, script: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 60
    ) -> subprocess.CompletedProcess[str]:
        import subprocess

        environ = {
            "PATH": f"{self.root / 'bin'}:{os.environ['PATH']}",
            "HOST_STATE": str(self.state_file),
            "IRIS_AWS_CONF_DIR": str(self.conf),
            "IRIS_AWS_RUN_DIR": str(self.run_dir),
            "IRIS_ROOT": str(self.iris_root),
            "IRIS_TLS_DIR": str(self.tls_dir),
            "MOUNT_VOLUMES": str(self.root / "bin" / "iris-mount-volumes"),
            "HOST_CERTIFICATE": str(self.root / "bin" / "iris-host-certificate"),
            "POLL_SECONDS": "1",
            "START_TIMEOUT": "5",
            "SYSLOG": str(self.root / "syslog"),
            **(env or {}),
        }
        return subprocess.run(["bash", str(script), *args], env=environ, capture_output=True, text=True, timeout=timeout)


def issue_host_certificate(tls_dir: Path) -> None:
    """The files the host certificate script writes: key (0640), leaf certificate, CA chain, hook directory."""
    tls_dir.mkdir(exist_ok=True)
    (tls_dir / "renewed.d").mkdir(exist_ok=True)
    for name, body in (("host.key", "PRIVATE KEY"), ("host.crt", "CERTIFICATE"), ("ca.crt", "CERTIFICATE")):
        path = tls_dir / name
        path.write_text(f"-----BEGIN {body}-----\nstub\n-----END {body}-----\n")
        path.chmod(0o640 if name == "host.key" else 0o644)


def make_host(root: Path, *, secrets: dict[str, str], parameters: dict[str, str] | None = None, certificate: bool = True) -> Host:
    host = Host(root)
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    for d in ("db", "jrn1", "jrn2", "wij"):
        (host.iris_root / d).mkdir(parents=True)
    host.conf.mkdir()
    host.run_dir.mkdir()
    if certificate:
        issue_host_certificate(host.tls_dir)
    python = sys.executable
    _python_stub(bin_dir / "docker", "docker_main")
    _python_stub(bin_dir / "aws", "aws_main")
    _executable(bin_dir / "iris-password-hash", f"#!/bin/bash\nexec {python} {ROOT / 'iris' / 'password_hash.py'}\n")
    _executable(bin_dir / "logger", '#!/bin/bash\nshift 2; [ "$1" = -- ] && shift; echo "$*" >> "$SYSLOG"\n')
    _fast_sleep(bin_dir)
    _executable(bin_dir / "hostnamectl", '#!/bin/bash\necho "$2" > "$(dirname "$HOST_STATE")/hostname"\n')
    _executable(bin_dir / "iris-mount-volumes", '#!/bin/bash\necho "$@" >> "$(dirname "$HOST_STATE")/mounts"\n')
    # The host certificate script (tests/test_host_certificate.py runs the real one): records its calls.
    _executable(bin_dir / "iris-host-certificate", '#!/bin/bash\necho "$@" >> "$(dirname "$HOST_STATE")/certificate-calls"\n')
    _save(
        host.state_file,
        {
            "images": [],
            "containers": {},
            "iris": {"up": False, "status": "Not Initialized", "merges": [], "errors": []},
            "primary_accepts_after": 0,
            "secrets": secrets,
            "parameters": parameters or {},
            "objects": {},
            "docker_calls": [],
            "aws_calls": [],
            "sessions": 0,
        },
    )
    return host
