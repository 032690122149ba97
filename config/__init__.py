"""Typed, validated settings: the only package that reads CDK context.

One module per area (network, data, app, dr, eks), shared annotated types in
``config.types``, the root model in ``config.settings`` and the profile
loader in ``config.loader``.
"""

from config.app import AppTierSettings, FleetSettings
from config.base import Problem, SettingsError
from config.data import (
    ContainerImage,
    DataTierSettings,
    IrisSettings,
    MirroredDatabaseSettings,
    MirrorSetSettings,
    VolumeSpec,
)
from config.dr import DnsSettings, DrSettings
from config.eks import EksSettings, NodeGroupSettings
from config.loader import is_cdk_context_key, load_settings
from config.network import NetworkSettings
from config.settings import Settings

__all__ = [
    "AppTierSettings",
    "ContainerImage",
    "DataTierSettings",
    "DnsSettings",
    "DrSettings",
    "EksSettings",
    "FleetSettings",
    "IrisSettings",
    "MirrorSetSettings",
    "MirroredDatabaseSettings",
    "NetworkSettings",
    "NodeGroupSettings",
    "Problem",
    "Settings",
    "SettingsError",
    "VolumeSpec",
    "is_cdk_context_key",
    "load_settings",
]
