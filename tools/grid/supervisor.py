"""Run one command of a grid cell in a process group of its own, and take the whole group down with it.

    python -c "<this file's source>" <worker pid> <log> <scratch dir> <cell start> <command...>

A cell's worker (tools/grid/cell.py) starts this script for each command, sending its source, so that
a worker needs no checkout of the project. The command starts in a new session: it, and everything
it starts (`dvc exp run` and the stages it runs), share one process group. Its output goes to the
log, each line prefixed with the seconds since the cell started (the driver reads the current stage,
the epoch and the stages' durations from them). The script exits with the command's status, after
killing whatever the command left in its group. It takes the group down (SIGTERM, then SIGKILL after
a grace period) when it receives SIGTERM, SIGINT or SIGHUP (the worker stopping the cell: a timeout,
a cancelled grid), or when the worker dies (a watchdog on the parent PID: a worker killed with
SIGKILL cannot stop anything itself), and then also removes the cell's scratch directory.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

GRACE_S = 5.0  # between SIGTERM and SIGKILL
POLL_S = 0.02  # how often it looks whether its command ended (or its worker)


def copy_output(pipe, log, started: float) -> None:
    """Each line of `pipe` to `log`, prefixed with the seconds since `started`."""
    for line in iter(pipe.readline, b""):
        log.write(f"[{time.time() - started:8.1f}] ".encode() + line)
        log.flush()


def exited(pid: int) -> bool:
    """Whether process `pid`, a child, has exited; it stays unreaped, so its PID (the group's ID) stays taken."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def take_down(child: subprocess.Popen) -> None:
    """SIGTERM to the child's group, SIGKILL to what is left of it after GRACE_S (or at once once the child is gone)."""
    signal_group(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while not exited(child.pid) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    signal_group(child.pid, signal.SIGKILL)
    child.wait()


def main(argv: list[str]) -> int:
    parent, log_path, scratch, started, command = int(argv[0]), argv[1], argv[2], float(argv[3]), argv[4:]
    stop: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda signum, _frame: stop.append(signum))
    with open(log_path, "ab") as log:
        try:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            log.write(f"cannot run {command[0]}: {error}\n".encode())
            return 127
        reader = threading.Thread(target=copy_output, args=(child.stdout, log, started), daemon=True)
        reader.start()
        orphaned = False
        while not exited(child.pid):
            orphaned = os.getppid() != parent
            if stop or orphaned:
                break
            time.sleep(POLL_S)
        take_down(child)  # also after a normal exit: nothing the command started outlives it
        reader.join(timeout=GRACE_S)
    if orphaned:
        shutil.rmtree(scratch, ignore_errors=True)
    if stop or orphaned:
        return 128 + signal.SIGTERM
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
