"""Composition root: settings, the local stack and the `offshore` CLI that wires the components."""

from offshore.errors import ConfigError, OffshoreError, StackError
from offshore.settings import Settings, get_settings, load_settings
from offshore.stack import Endpoints, LocalStack, running_stack

__all__ = [
    "ConfigError",
    "Endpoints",
    "LocalStack",
    "OffshoreError",
    "Settings",
    "StackError",
    "get_settings",
    "load_settings",
    "running_stack",
]
