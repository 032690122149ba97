"""How the Python stand-ins for host tools are reached: one server per test process, bash clients.

A stand-in command (``docker``, ``aws``, ``iris`` of tests/host_stubs.py, or a Python script such as
tests/test_backup_scripts.py's ``iris`` and ``curl``) is a small bash script that asks this server to
run it: a call costs a bash start and a few milliseconds of CPU, not a Python interpreter and its imports.

- The server is one Python process per test process (per pytest-xdist worker), started by the first
  stand-in written (:func:`client`) with tests/host_stubs.py already imported. It listens on a free
  port of 127.0.0.1 only, answers only clients that send its token (written into the clients, under
  the test's own temporary directory), and ends when the test process ends (its stdin closes).
- The client connects with bash's ``/dev/tcp/127.0.0.1/PORT`` and sends, NUL-separated, the token,
  its PID, the target (``module:function`` or a script path), its argument count and its arguments.
- The server keeps worker processes forked from it, at least one of them idle (the stand-ins of a
  pipeline run at the same time); a worker takes one call at a time. For each call it takes the
  client's environment, working directory and umask from ``/proc/PID`` (what the tool would have been
  started with), runs the target with ``sys.argv``, ``os.environ``, ``sys.stdin``, ``sys.stdout`` and
  ``sys.stderr`` set as for a process of its own, and answers the exit status, stdout and stderr; the
  client writes them to its own stdout and stderr (stderr first: a Python tool's stdout to a pipe is
  flushed at its exit) and exits with the status. The stand-ins keep no state of their own between
  calls (their state is the JSON state file); a worker restores its streams, ``sys.path`` and
  ``sys.argv`` after each call and is replaced after :data:`CALLS_PER_WORKER` calls. A fork per call
  would cost about twice the CPU (copying the pages each call touches), a Python start about seven times.
- The client's stdin is read only when the target reads ``sys.stdin``: the worker then asks the client,
  which reads its own stdin to its end and sends it (so the input is consumed as by a real tool, and
  a tool that never reads leaves it to the script). Input holding a NUL byte is refused loudly.
- Loud failures: no server → the client says so on stderr and exits 127; an exception in the target →
  its traceback on the client's stderr and status 1, as a Python tool; a call still running after
  :data:`CALL_TIMEOUT` seconds fails with a traceback, and a client with no answer gives up with 127.
"""

from __future__ import annotations

import atexit
import importlib
import io
import os
import select
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

ROOT = Path(__file__).resolve().parent.parent
# A call still running after this long fails (a test's script runs for at most a minute).
CALL_TIMEOUT = 60
# The client waits this long for any answer before it gives up (the server's own timeout comes first).
CLIENT_TIMEOUT = CALL_TIMEOUT + 30
# A worker of the server takes this many calls, then a fresh one takes over.
CALLS_PER_WORKER = 100

_server: tuple[subprocess.Popen[bytes], int, str, str] | None = None


# --------------------------------------------------------------------------
# The test process's side: start the server once, write clients
# --------------------------------------------------------------------------


def _start() -> tuple[subprocess.Popen[bytes], int, str, str]:
    import subprocess
    import tempfile

    token = os.urandom(16).hex()
    log = tempfile.NamedTemporaryFile(prefix="stub-server-", suffix=".log", delete=False)  # noqa: SIM115
    boot = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from tests.stub_server import serve; serve()"
    process = subprocess.Popen(
        [sys.executable, "-S", "-c", boot],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        env={**os.environ, "STUB_SERVER_TOKEN": token},
        cwd=ROOT,
    )
    log.close()
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        process.wait()
        raise RuntimeError(f"the stub server did not start: {Path(log.name).read_text()}")

    def stop() -> None:
        assert process.stdin is not None
        process.stdin.close()  # the server finishes the calls under way, waits for them and ends
        try:
            process.wait(timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.returncode == 0:
            os.unlink(log.name)  # kept only when the server failed: what it said is there

    atexit.register(stop)
    return process, int(line), token, log.name


def server() -> tuple[int, str, str]:
    """The port, token and log file of this process's stub server, started on first use."""
    global _server
    if _server is None or _server[0].poll() is not None:
        _server = _start()
    return _server[1:]


def client(path: Path, target: str) -> None:
    """``path`` as a command that runs ``target`` in the stub server: ``module:function``, called with
    the arguments and returning the exit status, or the absolute path of a Python script."""
    import shlex

    port, token, log = server()
    name = path.name
    path.write_text(
        f"""#!/bin/bash
# {name}: a stand-in run by the stub server of the test process (tests/stub_server.py).
{{ exec 3<>/dev/tcp/127.0.0.1/{port}; }} 2>/dev/null || {{
  echo "{name} (test stand-in): no stub server answers on 127.0.0.1:{port} (tests/stub_server.py; its log: {log})" >&2
  exit 127; }}
printf '%s\\0' {token} "$$" {shlex.quote(target)} "$#" "$@" >&3
while IFS= read -r -d '' -t {CLIENT_TIMEOUT} -u 3 tag; do
  case $tag in
    stdin)
      IFS= read -r -d '' -t {CLIENT_TIMEOUT} input
      case $? in
        0) echo "{name} (test stand-in): its input holds a NUL byte, which it cannot take" >&2; exit 127 ;;
        1) ;;
        *) echo "{name} (test stand-in): no end of input after {CLIENT_TIMEOUT} s" >&2; exit 127 ;;
      esac
      printf '%s\\0' "$input" >&3 ;;
    exit)
      IFS= read -r -d '' -u 3 status && IFS= read -r -d '' -u 3 out && IFS= read -r -d '' -u 3 err || break
      printf '%s' "$err" >&2
      printf '%s' "$out"
      exit "$status" ;;
    *) break ;;
  esac
done
echo "{name} (test stand-in): the stub server on 127.0.0.1:{port} gave no answer (its log: {log})" >&2
exit 127
"""
    )
    path.chmod(0o755)


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class _Connection:
    """NUL-separated fields over the client's socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def field(self) -> bytes:
        while b"\0" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the client closed its connection")
            self.buffer += chunk
        field, self.buffer = self.buffer.split(b"\0", 1)
        return field

    def send(self, *fields: bytes) -> None:
        self.sock.sendall(b"".join(f + b"\0" for f in fields))


class _Stdin:
    """The client's stdin, asked for when the tool first reads it (a tool that does not read never
    consumes it); text with universal newlines, as a Python process's ``sys.stdin``."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self._text: io.TextIOWrapper | None = None

    def _file(self) -> io.TextIOWrapper:
        if self._text is None:
            self._connection.send(b"stdin")
            self._text = io.TextIOWrapper(io.BytesIO(self._connection.field()), encoding="utf-8")
        return self._text

    def read(self, size: int = -1) -> str:
        return self._file().read(size)

    def readline(self, size: int = -1) -> str:
        return self._file().readline(size)

    def readlines(self) -> list[str]:
        return self._file().readlines()

    def __iter__(self) -> Iterator[str]:
        return iter(self._file())


def _environment(pid: str) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(os.fsdecode(e).split("=", 1) for e in raw.split(b"\0") if b"=" in e)


def _umask(pid: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    return 0o022


def _run(target: str, argv: list[str]) -> object:
    """``target`` run as a process would run it; what it exits with."""
    sys.argv = [target, *argv]
    if target.startswith("/"):
        code = compile(Path(target).read_text(), target, "exec")
        exec(code, {"__name__": "__main__", "__file__": target})
        return 0
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)(argv)


def _exit_status(code: object) -> int:
    """What a Python process exits with after ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _call(sock: socket.socket, token: str) -> None:
    """One call: the request, the target run as a process would run it, the answer."""

    def timeout(signum: int, frame: object) -> None:
        raise TimeoutError(f"the stand-in ran for more than {CALL_TIMEOUT} s")

    signal.signal(signal.SIGALRM, timeout)
    signal.alarm(CALL_TIMEOUT)
    connection = _Connection(sock)
    if connection.field() != token.encode():
        return
    pid, target = connection.field().decode(), os.fsdecode(connection.field())
    argv = [os.fsdecode(connection.field()) for _ in range(int(connection.field()))]
    out, err = io.StringIO(), io.StringIO()
    sys.stdin, sys.stdout, sys.stderr = _Stdin(connection), out, err  # type: ignore[assignment]
    try:
        os.environ.clear()
        os.environ.update(_environment(pid))
        os.chdir(f"/proc/{pid}/cwd")  # the directory the link names
        os.umask(_umask(pid))
        status = _exit_status(_run(target, argv))
    except SystemExit as exit:
        status = _exit_status(exit.code)
    except BaseException:  # its traceback goes to the client's stderr, as a Python tool's would
        import traceback

        traceback.print_exc()
        status = 1
    signal.alarm(0)
    texts = [out.getvalue(), err.getvalue()]
    if any("\0" in text for text in texts):
        texts = ["", f"the stand-in {target} wrote a NUL byte, which its client cannot pass on\n"]
        status = 1
    connection.send(b"exit", str(status).encode(), *(text.encode(errors="surrogateescape") for text in texts))


def _work(listener: socket.socket, token: str, report: int) -> None:
    """A worker: takes calls one at a time from the listener, and says on ``report`` when it is busy.
    Each call starts from the worker's own state again (streams, ``sys.path`` and ``sys.argv``,
    an empty environment, the garbage of the last call collected), and a worker ends after
    :data:`CALLS_PER_WORKER` calls, so that nothing a call leaves behind builds up."""
    import gc

    me = os.getpid()
    streams, path, argv = (sys.stdin, sys.stdout, sys.stderr), list(sys.path), list(sys.argv)
    for _ in range(CALLS_PER_WORKER):
        sock, _address = listener.accept()
        os.write(report, f"+{me}\n".encode())
        try:
            _call(sock, token)
        except BaseException:  # a connection that is not a call: the client sees it closed
            pass
        finally:
            sock.close()
            sys.stdin, sys.stdout, sys.stderr = streams
            sys.path[:], sys.argv[:] = path, argv
            os.environ.clear()
            os.chdir("/")
            gc.collect()  # a file the call left open in a cycle is closed now, not during another call
        os.write(report, f"-{me}\n".encode())


def serve() -> None:
    """The server: workers forked with the stand-ins imported, at least one of them idle, so that the
    stand-ins of a pipeline run at the same time; until stdin (the test process) closes."""
    import gc
    import subprocess  # noqa: F401 - for the acm-pca stand-in's openssl

    import tests.cpf
    import tests.host_stubs  # noqa: F401

    token = os.environ.pop("STUB_SERVER_TOKEN")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    reports, report = os.pipe()
    workers: set[int] = set()
    busy: set[int] = set()
    gc.freeze()  # the workers touch less of what the server holds

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(reports)
            try:
                _work(listener, token, report)
            finally:
                os._exit(0)
        workers.add(pid)

    def reap() -> None:
        # Waited for, not ignored: the calls' CPU time counts in the test process's, as a tool's does.
        try:
            while (pid := os.waitpid(-1, os.WNOHANG)[0]) != 0:
                workers.discard(pid)
                busy.discard(pid)
        except ChildProcessError:
            pass

    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select below
    spawn()
    spawn()
    pending = b""
    while True:
        try:
            ready, _, _ = select.select([reports, sys.stdin], [], [], 1.0)
        except InterruptedError:
            ready = []
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1):
            break
        if reports in ready:
            pending += os.read(reports, 4096)
            *lines, pending = pending.split(b"\n")
            for line in lines:
                (busy.add if line[:1] == b"+" else busy.discard)(int(line[1:]))
        reap()
        if not workers - busy:
            spawn()
    for pid in workers:
        os.kill(pid, signal.SIGTERM)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        while True:
            os.waitpid(-1, 0)
    except ChildProcessError:
        pass
