"""One module per AWS resource kind; REGISTRY maps a kind name to its implementation."""
