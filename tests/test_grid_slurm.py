"""python -m tools.grid on a real one-node SLURM cluster (slurmctld, slurmd and munge on localhost, 2 CPUs),
through dask-jobqueue's SLURMCluster configured by a YAML file, as docs/grid.md shows it.

Skipped, saying why, where SLURM is not installed (`apt-get install slurm-wlm munge`: .ci/run does it).
"""

import os
import shutil
import signal
import subprocess
from pathlib import Path

import psutil
import pytest
import yaml
from test_grid import base, cell_processes, grid, on_remote, project, server, sets, source, start_grid, tmp, wait_until

from tools.grid.cli import plan_cells

__all__ = ["base", "project", "server", "tmp"]  # the fixtures of tests/test_grid.py, this module's own instances

SLURM_CONF = """ClusterName=grid
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
StateSaveLocation={home}/state
SlurmdSpoolDir={home}/spool
SlurmctldPidFile={home}/slurmctld.pid
SlurmdPidFile={home}/slurmd.pid
SlurmctldLogFile={home}/slurmctld.log
SlurmdLogFile={home}/slurmd.log
NodeName=localhost NodeHostname=localhost CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=grid Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
JOBQUEUE = """jobqueue:
  slurm:
    queue: grid          # the partition
    cores: 1             # one cell at a time per job
    processes: 1
    memory: 1GB
    walltime: "00:30:00"
"""


def free_ports(count: int) -> list[int]:
    import socket

    probes = [socket.socket() for _ in range(count)]
    for probe in probes:
        probe.bind(("127.0.0.1", 0))
    ports = [probe.getsockname()[1] for probe in probes]
    for probe in probes:
        probe.close()
    return ports


def stop(pid_file: Path) -> None:
    if pid_file.exists():
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not psutil.pid_exists(pid), 30, f"{pid_file.stem} did not stop")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> dict:
    """A one-node SLURM cluster on localhost; the environment its commands need (SLURM_CONF)."""
    if not (shutil.which("slurmctld") and shutil.which("slurmd") and shutil.which("munged")):
        pytest.skip("SLURM is not installed here (apt-get install slurm-wlm munge; .ci/run installs it)")
    if os.getuid() != 0:
        pytest.skip("a one-node SLURM cluster on localhost runs its daemons as root (SlurmUser=root): not root here")
    home = tmp_path_factory.mktemp("slurm")
    ctld_port, d_port = free_ports(2)
    (home / "slurm.conf").write_text(SLURM_CONF.format(home=home, ctld_port=ctld_port, d_port=d_port))
    env = {**os.environ, "SLURM_CONF": str(home / "slurm.conf")}
    munge_pid = None
    if subprocess.run(["munge", "-n"], capture_output=True).returncode != 0:  # no munged running yet: start one
        Path("/run/munge").mkdir(exist_ok=True)
        if not Path("/etc/munge/munge.key").exists():
            subprocess.run(["mungekey", "--create"], check=True)
        subprocess.run(["munged", "--force", "--pid-file", str(home / "munged.pid")], check=True)
        munge_pid = home / "munged.pid"
    try:
        subprocess.run(["slurmctld"], env=env, check=True)
        subprocess.run(["slurmd", "-N", "localhost"], env=env, check=True)
        try:
            wait_until(
                lambda: (
                    subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout.strip()
                    == "idle"
                ),
                30,
                "the SLURM node never became idle",
            )
        except AssertionError:
            raise AssertionError((home / "slurmctld.log").read_text() + (home / "slurmd.log").read_text()) from None
        yield {"SLURM_CONF": env["SLURM_CONF"]}
    finally:
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True)
        for pid_file in (home / "slurmd.pid", home / "slurmctld.pid", munge_pid):
            if pid_file:
                stop(pid_file)


def remote_holds_outputs(project: Path, name: str) -> bool:
    """Whether the DVC remote holds every output of experiment `name` that DVC caches (not those kept in git)."""
    (line,) = on_remote(project, name)
    subprocess.run(["git", "fetch", "-q", "origin", line.split()[1]], cwd=project, check=True)

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True).stdout

    in_git = git("ls-tree", "-r", "--name-only", "FETCH_HEAD").split()
    lock = yaml.safe_load(git("show", "FETCH_HEAD:dvc.lock"))
    outs = [out for stage in lock["stages"].values() for out in stage.get("outs", [])]
    cached = [
        out["md5"] for out in outs if not any(f == out["path"] or f.startswith(f"{out['path']}/") for f in in_git)
    ]
    remote = project.parent / "dvc-remote" / "files" / "md5"
    return bool(cached) and all((remote / md5[:2] / md5[2:]).exists() for md5 in cached)


def test_a_grid_on_slurm_lands_its_cells_and_a_cancelled_job_fails_its_cell(slurm, project, tmp, base, server):
    (base / "jobqueue.yaml").write_text(JOBQUEUE)
    sweep = [source(server.url("slurm0"), server.url("slurm1"))]
    cancelled, other = plan_cells("slurm", sweep)
    command = ["--prefix", "slurm", *sets(sweep), "--jobqueue", str(base / "jobqueue.yaml"), "--connect-timeout", "60"]
    server.holding(2)
    driver = start_grid(project, tmp, *command, env=slurm)
    try:
        server.wait_for(2)  # both cells are in their download stage, each in its own SLURM job
    except AssertionError:
        driver.kill()
        raise AssertionError("".join(driver.communicate())) from None
    (process,) = [
        p
        for p in psutil.process_iter(["cwd"])
        if (p.info["cwd"] or "").startswith(str(tmp / f"grid-cell-{cancelled}-"))
    ][:1]
    job = process.environ()["SLURM_JOB_ID"]
    subprocess.run(["scancel", job], env={**os.environ, **slurm}, check=True)
    wait_until(
        lambda: not any(f"grid-cell-{cancelled}-" in cwd for cwd in cell_processes(tmp)),
        30,
        "its processes outlived its job",
    )
    wait_until(lambda: not list(tmp.glob(f"grid-cell-{cancelled}-*")), 10, "its clone outlived its job")
    server.released.set()
    stdout, stderr = driver.communicate(timeout=240)
    assert driver.returncode == 1 and "Traceback" not in stdout + stderr, stdout + stderr
    assert (
        f"--- {cancelled} " in stdout and "its worker died (killed, out of memory, or its batch job ended" in stdout
    ), stdout
    assert on_remote(project, other) and not on_remote(project, cancelled)

    rerun = grid(project, tmp, *command, env=slurm)  # runs the missing cell only
    assert rerun.returncode == 0 and "1 already on the git remote" in rerun.stdout, rerun.stdout + rerun.stderr
    assert "SLURMCluster: 1 workers" in rerun.stdout
    assert all(remote_holds_outputs(project, name) for name in (cancelled, other))
