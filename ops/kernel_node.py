"""Stands in for ``node`` when jsii starts its kernel (``JSII_NODE``), for ops/bench.py.

Runs ``$BENCH_NODE`` with the same arguments and standard streams (jsii talks
to the kernel over stdin and stdout), passes on the signals a caller stops it
with, and exits as node did. Then appends the CPU time of everything it ran,
user and system, to the file ``$BENCH_KERNEL_CPU``: jsii-runtime.js starts
the kernel program as a child of its own and reaps it, so both Node processes
count. Standard library only; run as a script, with ``python -S``.
"""

import os
import resource
import signal
import subprocess
import sys


def main() -> int:
    started: list[subprocess.Popen[bytes]] = []

    def forward(received: int, _frame: object) -> None:
        for child in started:
            child.send_signal(received)

    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, forward)
    started.append(subprocess.Popen([os.environ["BENCH_NODE"], *sys.argv[1:]]))
    status = started[0].wait()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.environ["BENCH_KERNEL_CPU"], "a") as out:
        out.write(f"{usage.ru_utime + usage.ru_stime}\n")
    # Killed by signal N: exit as a shell reports it, 128 + N.
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
