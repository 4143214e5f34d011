"""The deployer: desired resources from a plan, diffed against what AWS reports, applied in order."""
