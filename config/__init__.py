"""Typed, validated settings: the only package that reads CDK context."""

from config.settings import (
    AppTierSettings,
    DataTierSettings,
    MirrorSetSettings,
    NetworkSettings,
    Settings,
    SettingsError,
    VolumeSpec,
    load_settings,
)

__all__ = [
    "AppTierSettings",
    "DataTierSettings",
    "MirrorSetSettings",
    "NetworkSettings",
    "Settings",
    "SettingsError",
    "VolumeSpec",
    "load_settings",
]
