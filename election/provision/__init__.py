"""The deployer: desired resources from a plan, diffed against what AWS reports, applied in order."""

from typing import Any


def __getattr__(name: str) -> Any:
    """`from election.provision import Deployer` without importing boto3 for every `election` command."""
    if name == "Deployer":
        from election.provision.engine import Deployer

        return Deployer
    raise AttributeError(name)
