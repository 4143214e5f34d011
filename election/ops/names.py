"""Deterministic resource names (so ops need no state file): the one `Names` of the model, re-exported."""

from election.provision.model.names import Names

__all__ = ["Names"]
