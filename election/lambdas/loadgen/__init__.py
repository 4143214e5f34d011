"""The load generator: the open-loop schedule, a standard-library HTTP client and the fleet worker.

Standard library and boto3 only, so the fleet's Lambda function runs it as deployed, and `loadtest`
on this machine runs the very same schedule (with aiohttp as its transport, ops/loadsend.py).
Not a handler of the election: package.sources() zips only the top-level modules of
election/lambdas, so none of this ships in the election's functions.
"""
