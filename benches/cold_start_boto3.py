"""The Python side of the cold-start comparison in benches/tick.rs: what a Python
notifier does before it can take its first event, as pipewatch-lambda does: import
boto3, build the CodePipeline, DynamoDB and SNS clients, then ask the Runtime API for
the next invocation."""

import os
import urllib.request

import boto3

session = boto3.session.Session()
clients = [session.client(name) for name in ("codepipeline", "dynamodb", "sns")]
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next")
