"""The shell scripts shipped to the members, run for real against stubs of
`iris`, `sudo` and the disk tools (the backup scripts: test_backup_scripts.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.host_stubs import stub

MOUNT = ROOT / "iris" / "mount_volumes.sh"


@pytest.fixture
def fake_disks(tmp_path: Path) -> Path:
    """A /dev tree with two NVMe volumes and stubs that keep state in files."""
    dev = tmp_path / "dev"
    (dev / "disk" / "by-id").mkdir(parents=True)
    for n, vol in ((1, "vol0aaa"), (2, "vol0bbb")):
        (dev / f"nvme{n}n1").write_text("")
        (dev / "disk" / "by-id" / f"nvme-Amazon_Elastic_Block_Store_{vol}").symlink_to(dev / f"nvme{n}n1")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # blkid: a device "has" a file system once mkfs wrote a marker beside it.
    stub(
        bin_dir, "blkid", 'dev="${@: -1}"; [ -f "$dev.fs" ] || exit 2; case "$4" in TYPE) echo xfs;; UUID) cat "$dev.fs";; esac\n'
    )
    stub(bin_dir, "mkfs.xfs", 'dev="${@: -1}"; echo "uuid-$(basename "$dev")" > "$dev.fs"; echo "$dev" >> "$LOG.mkfs"\n')
    stub(bin_dir, "mountpoint", '[ -f "$LOG.mounted.$(echo "$2" | tr / _)" ]\n')
    stub(bin_dir, "mount", 'touch "$LOG.mounted.$(echo "$1" | tr / _)"; echo "$1" >> "$LOG.mount"\n')
    (tmp_path / "fstab").write_text("# fstab\n")
    return tmp_path


def run_mount(tmp: Path, *specs: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{tmp / 'bin'}:{os.environ['PATH']}",
        "DEV_ROOT": str(tmp / "dev"),
        "FSTAB": str(tmp / "fstab"),
        "LOG": str(tmp / "log"),
        "WAIT_SECONDS": "0",
    }
    mounts = [s.replace(":/iris", f":{tmp}/iris") for s in specs]
    return subprocess.run(["bash", str(MOUNT), *mounts], env=env, capture_output=True, text=True, timeout=30)


def test_volumes_are_found_by_volume_id_formatted_once_and_mounted_noatime(fake_disks: Path) -> None:
    # Given in the opposite order to their NVMe numbering: the id decides.
    specs = ("vol-0bbb:/dev/sdg:/iris/jrn1", "vol-0aaa:/dev/sdf:/iris/db")
    first = run_mount(fake_disks, *specs)
    assert first.returncode == 0, first.stderr
    fstab = (fake_disks / "fstab").read_text().splitlines()[1:]
    assert fstab == [
        f"UUID=uuid-nvme2n1 {fake_disks}/iris/jrn1 xfs defaults,noatime,nofail 0 2",
        f"UUID=uuid-nvme1n1 {fake_disks}/iris/db xfs defaults,noatime,nofail 0 2",
    ]
    # A second run (a reboot, or user data run again) changes nothing.
    second = run_mount(fake_disks, *specs)
    assert second.returncode == 0, second.stderr
    assert (fake_disks / "fstab").read_text().splitlines()[1:] == fstab
    assert len((fake_disks / "log.mkfs").read_text().splitlines()) == 2
    assert len((fake_disks / "log.mount").read_text().splitlines()) == 2


def test_an_existing_file_system_is_never_formatted(fake_disks: Path) -> None:
    (fake_disks / "dev" / "nvme1n1.fs").write_text("uuid-existing\n")
    run = run_mount(fake_disks, "vol-0aaa:/dev/sdf:/iris/db")
    assert run.returncode == 0, run.stderr
    assert not (fake_disks / "log.mkfs").exists()
    assert "UUID=uuid-existing " in (fake_disks / "fstab").read_text()


def test_a_missing_volume_fails_loudly(fake_disks: Path) -> None:
    run = run_mount(fake_disks, "vol-0ccc:/dev/sdh:/iris/jrn2")
    assert run.returncode == 1
    assert "volume vol-0ccc (/dev/sdh) is not attached" in run.stderr
