"""Handler code zipped and uploaded by the deployer; standard library and boto3 only."""
