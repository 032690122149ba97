"""What a member's host runs: files and systemd units, generated from settings.

Plain functions that tests call directly. The scripts themselves live in
``iris/`` and reach the host as one S3 asset (user data is limited to 16 KB);
what differs per member (its environment, merge files and Web Gateway
configuration) is written by the user data. No file holds a secret: the boot
script reads the passwords from Secrets Manager when it needs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from components.host_certificate import CertificateAuthority, certificate_commands
from components.iris_merge import MemberConfig, member_merge, mirror_name
from components.member_monitoring import MemberLogGroupNames, cloudwatch_agent_commands
from components.mirror_member import install_file_commands
from config.constants import DR_MEMBER_NAMES, IRIS_OWNER_UID, IRIS_SUPERSERVER_PORT
from config.data import MirroredDatabaseSettings

CONF_DIR = "/etc/iris-aws"
HOST_FILES_DIR = "/opt/iris-aws/host"
# Where each script of the asset is installed on the host.
HOST_SCRIPTS = {
    "member_boot.sh": "/usr/local/sbin/iris-member",
    "arbiter_boot.sh": "/usr/local/sbin/iris-arbiter",
    "password_hash.py": "/usr/local/bin/iris-password-hash",
    "iris_wrapper.sh": "/usr/local/bin/iris",
    "mount_volumes.sh": "/usr/local/sbin/iris-mount-volumes",
    "notify_primary.sh": "/usr/local/sbin/iris-notify-primary",
    "backup_role.sh": "/usr/local/sbin/iris-backup-role",
    "host_certificate.sh": "/usr/local/sbin/iris-host-certificate",
}
NOTIFY_EVENT = "/iris/db/iris-aws/events/become-primary"
# Stop waits for IRIS's own shutdown (docker stop --time 300) and a margin.
STOP_TIMEOUT_SECONDS = 330
START_MARGIN_SECONDS = 1800  # pulls, the first start and ^ZMIRROR, on top of the join timeout


@dataclass(frozen=True)
class HostAsset:
    """The S3 object that holds ``iris/`` for the hosts."""

    bucket: str
    key: str


def install_host_files(asset: HostAsset, region: str, scripts: Sequence[str]) -> list[str]:
    """Commands that fetch the asset (through the S3 gateway endpoint) and install ``scripts``."""
    archive = "/tmp/iris-aws-host.zip"
    return [
        f"aws s3 cp --quiet --region {region} s3://{asset.bucket}/{asset.key} {archive}",
        f"rm -rf {HOST_FILES_DIR} && mkdir -p {HOST_FILES_DIR}",
        f"python3 -m zipfile -e {archive} {HOST_FILES_DIR}",
        f"rm -f {archive}",
        *(f"install -m 0755 {HOST_FILES_DIR}/{name} {HOST_SCRIPTS[name]}" for name in scripts),
    ]


def env_file(values: Mapping[str, str | int]) -> str:
    """``KEY=value`` lines for a shell to source; values are single-quoted."""
    lines = []
    for key, value in values.items():
        text = str(value)
        if "'" in text or "\n" in text:
            raise ValueError(f"{key}: a value with a quote or a newline cannot be written to an environment file")
        lines.append(f"{key}='{text}'")
    return "\n".join(lines) + "\n"


def unit(description: str, service: Mapping[str, str | int], *, after: Sequence[str] = (), wanted_by: str | None = None) -> str:
    """A systemd unit file."""
    text = f"[Unit]\nDescription={description}\n"
    if after:
        text += f"Wants={' '.join(after)}\nAfter={' '.join(after)}\n"
    text += "\n[Service]\n" + "".join(f"{key}={value}\n" for key, value in service.items())
    if wanted_by:
        text += f"\n[Install]\nWantedBy={wanted_by}\n"
    return text


def member_units(join_timeout_seconds: int) -> dict[str, str]:
    """The member's units: IRIS at every boot, and the detached notify helper."""
    return {
        "iris-member.service": unit(
            "IRIS mirror member: mount, configure on first start, start IRIS and the Web Gateway",
            {
                "Type": "oneshot",
                "RemainAfterExit": "yes",
                "ExecStart": f"{HOST_SCRIPTS['member_boot.sh']} start",
                "ExecStop": f"{HOST_SCRIPTS['member_boot.sh']} stop",
                "TimeoutStartSec": join_timeout_seconds + START_MARGIN_SECONDS,
                "TimeoutStopSec": STOP_TIMEOUT_SECONDS,
            },
            after=("network-online.target", "docker.service"),
            wanted_by="multi-user.target",
        ),
        # With TLS a member joins once the primary authorizes it: the primary does so each minute.
        "iris-mirror-authorize.timer": "[Unit]\nDescription=Authorize pending mirror members\n\n"
        "[Timer]\nOnBootSec=2min\nOnUnitActiveSec=1min\n\n[Install]\nWantedBy=timers.target\n",
        "iris-mirror-authorize.service": unit(
            "Authorize the mirror's pending members if this member is the primary",
            {"Type": "oneshot", "ExecStart": f"{HOST_SCRIPTS['member_boot.sh']} authorize-pending", "TimeoutStartSec": 120},
        ),
        # ^ZMIRROR writes the event file; systemd starts the helper, detached from IRIS.
        "iris-notify-primary.path": f"[Unit]\nDescription=NotifyBecomePrimary^ZMIRROR events\n\n"
        f"[Path]\nPathChanged={NOTIFY_EVENT}\n\n[Install]\nWantedBy=multi-user.target\n",
        "iris-notify-primary.service": unit(
            "Point the mirror VIP at this member (retarget function)",
            {"Type": "oneshot", "ExecStart": HOST_SCRIPTS["notify_primary.sh"], "TimeoutStartSec": 120},
        ),
    }


def arbiter_units() -> dict[str, str]:
    return {
        "iris-arbiter.service": unit(
            "IRIS mirror arbiter: the InterSystems ISCAgent, nothing else",
            {
                "ExecStart": HOST_SCRIPTS["arbiter_boot.sh"],
                "ExecStop": "/usr/bin/docker stop arbiter",
                "Restart": "always",
                "RestartSec": 10,
            },
            after=("network-online.target", "docker.service"),
            wanted_by="multi-user.target",
        )
    }


def web_gateway_ini() -> str:
    """CSP.ini of the member's own Web Gateway: one server, this member, not mirror-aware.

    Not mirror-aware, so the status page answers for this member only (a
    mirror-aware entry would follow the primary and answer SUCCESS anywhere).
    The boot script fills in the CSPSystem password, which the Web Gateway
    encrypts in the file when it first reads it.
    """
    return (
        "[SYSTEM]\nSystem_Manager=127.0.0.1\nREGISTRY_METHODS=Disabled\n\n"
        "[SYSTEM_INDEX]\nLOCAL=Enabled\n\n"
        f"[LOCAL]\nIp_Address=host.docker.internal\nTCP_Port={IRIS_SUPERSERVER_PORT}\n"
        "Minimum_Server_Connections=1\nMirror_Aware=0\nUsername=CSPSystem\nPassword={{CSPSYSTEM_PASSWORD}}\n\n"
        "[APP_PATH_INDEX]\n/csp/bin=Enabled\n/api/monitor=Enabled\n"
        + "".join(f"{path}=Enabled\n" for path in ADMIN_PATHS)
        + "\n[APP_PATH:/csp/bin]\nDefault_Server=LOCAL\n\n"
        "[APP_PATH:/api/monitor]\nDefault_Server=LOCAL\n"
        + "".join(f"\n[APP_PATH:{path}]\nDefault_Server=LOCAL\n" for path in ADMIN_PATHS)
    )


# The host's CloudWatch agent reaches the container through Docker's bridge.
DOCKER_BRIDGE = "172.16.0.0/12"
# The Management Portal and the files it loads, for administrators on the host
# itself: a Session Manager port forward to the member's health-check port.
ADMIN_PATHS = ("/csp/sys", "/csp/broker")


def web_gateway_conf(health_check_path: str) -> str:
    """CSP.conf (Apache) of the member's Web Gateway: the status page; the metrics and the
    Management Portal for the host only.

    The portal answers connections made on the host (a Session Manager port
    forward arrives there), never the network; every other application stays
    unreachable; the security groups admit the port from the VIP and the
    retarget function only.
    """
    return (
        'CSPModulePath "${ISC_PACKAGE_INSTALLDIR}/bin/"\n'
        'CSPConfigPath "${ISC_PACKAGE_INSTALLDIR}/bin/"\n'
        "<Location />\n    Require all denied\n</Location>\n"
        f'<Location "{health_check_path}">\n    CSP On\n    Require all granted\n</Location>\n'
        f'<Location "/api/monitor/metrics">\n    CSP On\n    Require ip 127.0.0.1 {DOCKER_BRIDGE}\n</Location>\n'
        + "".join(
            f'<Location "{path}">\n    CSP On\n    Require ip 127.0.0.1 {DOCKER_BRIDGE}\n</Location>\n' for path in ADMIN_PATHS
        )
    )


def enable_units(names: Sequence[str], start: Sequence[str]) -> list[str]:
    """Enable ``names`` for every boot and start ``start`` now without blocking cloud-init."""
    return [
        "systemctl daemon-reload",
        f"systemctl enable {' '.join(names)}",
        f"systemctl start --no-block {' '.join(start)}",
    ]


def host_user_commands() -> list[str]:
    """The IRIS owner on the host: same uid as in the images, so volumes and scripts agree."""
    uid = IRIS_OWNER_UID
    return [
        *docker_commands(),
        f"getent group irisowner >/dev/null || groupadd --system --gid {uid} irisowner",
        f"id irisowner >/dev/null 2>&1 || useradd --system --uid {uid} --gid {uid} --no-create-home irisowner",
        "usermod -aG docker irisowner",
    ]


def docker_commands() -> list[str]:
    """Docker from the image, or from the distribution's repository (reached through the S3 endpoint)."""
    return ["command -v docker >/dev/null || dnf install -y -q docker", "systemctl enable --now docker"]


def write_files(files: Mapping[str, tuple[str, str]]) -> list[str]:
    """``files``: path -> (text, mode), their folders made first in one command."""
    folders = sorted({str(Path(path).parent) for path in files})
    return [
        f"mkdir -p {' '.join(folders)}",
        *(
            command
            for path, (text, mode) in files.items()
            for command in install_file_commands(path, text, mode, make_folder=False)
        ),
    ]


@dataclass(frozen=True)
class IrisHost:
    """What every member host of one stack shares: where IRIS comes from and how it is sized."""

    asset: HostAsset
    region: str
    registry: str  # <account>.dkr.ecr.<region>.amazonaws.com
    image: str  # <registry>/<repository>@sha256:...
    arbiter_image: str
    web_gateway_image: str
    zone_name: str  # the data tier's private zone: the members' names
    health_check_port: int
    health_check_path: str
    memory_ratio: float
    qos_timeout_ms: int
    async_compression: str  # the mirror's compression of journal data to async members
    join_timeout_seconds: int
    license_key: str | None
    iris_instance: str
    log_groups: MemberLogGroupNames
    # Each member's TLS certificate comes from this CA (components/host_certificate.py).
    ca: CertificateAuthority


@dataclass(frozen=True)
class MemberSecrets:
    """ARNs of the Secrets Manager secrets a member's IRIS accounts get their passwords from."""

    superuser: str
    cspsystem: str


# Unique within a mirror: HSDB0, HSDB1, HSDBDR, HSDBDR1, HSDBDR2 (data.py keeps 3 characters free).
MEMBER_SUFFIXES = {"Member0": "0", "Member1": "1", **{name: name for name in DR_MEMBER_NAMES}}


def host_name(set_name: str, member: str, zone_name: str) -> str:
    """A member's stable DNS name in the data tier's private zone, e.g. member0.hsdb.data.iris.internal."""
    return f"{member.lower()}.{set_name.lower()}.{zone_name}"


def system_name(set_name: str, member: str) -> str:
    """A member's name in its mirror, e.g. HSDB0, HSDB1, HSDBDR."""
    return mirror_name(set_name) + MEMBER_SUFFIXES[member]


def data_member_commands(
    host: IrisHost,
    *,
    set_name: str,
    member: str,
    async_member: bool,
    instance_type: str,
    databases: Sequence[MirroredDatabaseSettings],
    peers: Sequence[str],
    creates_mirror: bool,
    secrets: MemberSecrets,
    marker: str,
    mounts: Sequence[str],
    onprem_mirror: str | None = None,
    onprem_arbiter: str | None = None,
) -> list[str]:
    """User data of a failover or async member: its files and units, then ``iris-member start``.

    ``peers``: the members (by name, e.g. Member0) it may join; ``creates_mirror``:
    it creates the mirror when no marker says one exists (Member0 of a set).
    A failover member gets ^ZMIRROR and its helper; an async member does not.
    ``onprem_mirror`` (the hybrid model): the name of the on-premises mirror it
    joins, and ``peers`` are then its failover members' addresses, ``onprem_arbiter`` its arbiter's.
    """
    mirror = onprem_mirror or mirror_name(set_name)
    config = MemberConfig(
        mirror_name=mirror,
        system_name=mirror + MEMBER_SUFFIXES[member],
        instance_type=instance_type,
        memory_ratio=host.memory_ratio,
        arbiter_host=onprem_arbiter or host_name(set_name, "Arbiter", host.zone_name),
        qos_timeout_ms=host.qos_timeout_ms,
        databases=databases,
        async_compression=host.async_compression,
    )
    roles = ("drasync",) if async_member else ("primary", "backup")
    env = {
        "IRIS_INSTANCE": host.iris_instance,
        "MIRROR_SET": set_name,
        "MIRROR_NAME": config.mirror_name,
        "SYSTEM_NAME": config.system_name,
        "MEMBER": member,
        "ROLE": "async" if async_member else "failover",
        "CREATES_MIRROR": "true" if creates_mirror else "false",
        "PEERS": " ".join(peers if onprem_mirror else (host_name(set_name, peer, host.zone_name) for peer in peers)),
        "HOST_NAME": host_name(set_name, member, host.zone_name),
        "IMAGE": host.image,
        "WEB_GATEWAY_IMAGE": host.web_gateway_image,
        "REGISTRY": host.registry,
        "AWS_REGION": host.region,
        "HEALTH_PORT": host.health_check_port,
        "MOUNTS": " ".join(mounts),
        "SUPERUSER_SECRET": secrets.superuser,
        "CSPSYSTEM_SECRET": secrets.cspsystem,
        "MIRROR_MARKER": marker,
        "LICENSE_KEY": host.license_key or "",
        "JOIN_TIMEOUT": host.join_timeout_seconds,
    }
    units = member_units(host.join_timeout_seconds)
    if async_member:
        # Promotion is a person's decision (python -m ops promote-dr): no ^ZMIRROR hook.
        units = {
            name: text for name, text in units.items() if not name.startswith(("iris-notify-primary", "iris-mirror-authorize"))
        }
    files = {
        f"{CONF_DIR}/member.env": (env_file(env), "0644"),
        **{f"{CONF_DIR}/merge-{role}.cpf": (member_merge(role, config), "0600") for role in roles},
        f"{CONF_DIR}/CSP.ini": (web_gateway_ini(), "0600"),
        f"{CONF_DIR}/CSP.conf": (web_gateway_conf(host.health_check_path), "0644"),
        **{f"/etc/systemd/system/{name}": (text, "0644") for name, text in units.items()},
    }
    scripts = ["member_boot.sh", "password_hash.py", "iris_wrapper.sh", "mount_volumes.sh", "host_certificate.sh"]
    hooks = [] if async_member else [f"install -m 0644 {HOST_FILES_DIR}/ZMIRROR.mac {CONF_DIR}/ZMIRROR.mac"]
    enabled = (
        ["iris-member.service"]
        if async_member
        else ["iris-member.service", "iris-notify-primary.path", "iris-mirror-authorize.timer"]
    )
    agent = cloudwatch_agent_commands(
        role="async" if async_member else "failover",
        mirror_set=set_name,
        member=member,
        health_check_port=host.health_check_port,
        log_groups=host.log_groups,
    )
    return [
        *install_host_files(
            host.asset, host.region, scripts if async_member else [*scripts, "notify_primary.sh", "backup_role.sh"]
        ),
        *hooks,
        *write_files(files),
        *host_user_commands(),
        # The member's own name, and its set's VIP name for xDBC clients; the key readable by the container's irisowner.
        *certificate_commands(
            host.ca,
            names=[host_name(set_name, member, host.zone_name), host.ca.vip_name(set_name)],
            key_group=IRIS_OWNER_UID,
        ),
        *agent,
        *enable_units(enabled, enabled[::-1]),
    ]


def arbiter_commands(host: IrisHost, *, set_name: str) -> list[str]:
    """User data of an arbiter: the ISCAgent from the arbiter image, at every boot."""
    env = {"ARBITER_IMAGE": host.arbiter_image, "REGISTRY": host.registry, "AWS_REGION": host.region}
    units = arbiter_units()
    files = {
        f"{CONF_DIR}/member.env": (env_file(env), "0644"),
        **{f"/etc/systemd/system/{name}": (text, "0644") for name, text in units.items()},
    }
    return [
        *install_host_files(host.asset, host.region, ["arbiter_boot.sh"]),
        *write_files(files),
        *docker_commands(),
        *cloudwatch_agent_commands(
            role="arbiter", mirror_set=set_name, member="Arbiter", health_check_port=host.health_check_port, log_groups=None
        ),
        *enable_units(list(units), list(units)),
    ]
