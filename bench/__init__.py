"""Benchmarks that print figures measured in one run (``make bench``); not timed tests.

* latency of member create / get through the app vs the bare DynamoDB calls they need,
* cold import of the app vs a bare ``import boto3``,
* DynamoDB capacity units and calls per operation,
* one ``order.paid`` event through the app vs the bare DynamoDB calls it needs,
* the nightly pass's members evaluated per second,
* segment page time and read capacity at 10,000 and 100,000 members,
* tag writes per second through the app vs the bare DynamoDB calls they need,
* sale day: DynamoDB load per partition key at 5,000 order.paid per simulated second.
"""
