"""Deploys a SAM template into the emulated CloudFormation and reports what it created.

    stack.py deploy STACK TEMPLATE PARAMETERS_JSON   create the stack, or update it if it exists
    stack.py types TEMPLATE                          the resource types the translated template
                                                     holds (whatever its conditions decide)
    stack.py resources TEMPLATE                      its resources' types by logical id

The template is translated by the real SAM translator (aws-sam-translator), as CloudFormation's
AWS::Serverless transform does, with the functions' code in the emulated S3, as `sam package`
leaves it. The stack is created (or updated) in moto's CloudFormation (tests/deploy/emulator.py),
found through the standard AWS_ENDPOINT_URL_<SERVICE> variables. Prints one JSON report:
the stack's status and outputs, every resource with its status, and what the services say
about the created resources (table, topics, subscriptions, queues, buckets, functions, roles,
alarms, rules (schedules and patterns), event source mappings, dashboards). tests/it/deploy/ asserts on it.

Exits with 1 and a message naming the problem when the stack does not reach *_COMPLETE.
"""

import ast
import io
import json
import sys
import time
import zipfile

import boto3
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ARTIFACTS = "pipewatch-artifacts"
CODE_KEY = "bootstrap.zip"


class NoManagedPolicies:
    """The translator asks for AWS managed policy ARNs only when a template names one by
    its short name; pipewatch's template does not."""

    def load(self):
        return {}


def translate(template_path: str, parameters: dict[str, str]) -> dict:
    template = yaml_parse(open(template_path).read())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{ARTIFACTS}/{CODE_KEY}"
    return transform(template, parameters, NoManagedPolicies())


def upload_code() -> None:
    """The functions' code, where `sam package` would have put it. Its content is never run
    by the emulator: the tests run the built bootstrap with cargo-lambda's Runtime API."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ARTIFACTS)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\nexit 1\n")
    s3.put_object(Bucket=ARTIFACTS, Key=CODE_KEY, Body=archive.getvalue())


def deploy(stack: str, template: dict, parameters: dict[str, str]) -> dict:
    cloudformation = boto3.client("cloudformation")
    request = dict(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    existing = [
        s for s in cloudformation.list_stacks()["StackSummaries"]
        if s["StackName"] == stack and s["StackStatus"] != "DELETE_COMPLETE"
    ]
    if existing:
        cloudformation.update_stack(**request)
    else:
        cloudformation.create_stack(**request)
    deadline = time.monotonic() + 120
    while True:
        description = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        if not description["StackStatus"].endswith("_IN_PROGRESS"):
            return description
        if time.monotonic() > deadline:
            sys.exit(f"{stack}: still {description['StackStatus']} after 120 s")
        time.sleep(0.2)


def report(stack: str, description: dict) -> dict:
    cloudformation = boto3.client("cloudformation")
    # moto lists a resource whose condition is false as an entry with no id; CloudFormation
    # does not list it.
    resources = [
        r
        for r in cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        if r["LogicalResourceId"]
    ]
    by_type: dict[str, list[dict]] = {}
    for r in resources:
        by_type.setdefault(r["ResourceType"], []).append(r)

    def ids(resource_type: str) -> dict[str, str]:
        return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in by_type.get(resource_type, [])}

    dynamodb, sns, sqs = boto3.client("dynamodb"), boto3.client("sns"), boto3.client("sqs")
    lambda_, iam = boto3.client("lambda"), boto3.client("iam")
    cloudwatch, events = boto3.client("cloudwatch"), boto3.client("events")

    tables = {}
    for logical, name in ids("AWS::DynamoDB::Table").items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        tables[logical] = {
            "name": name,
            "arn": table["TableArn"],
            "key_schema": table["KeySchema"],
            "billing_mode": table.get("BillingModeSummary", {}).get("BillingMode"),
            "sse": table.get("SSEDescription"),
            "ttl": ttl,
        }
    topics = {}
    for logical, arn in ids("AWS::SNS::Topic").items():
        attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        subscriptions = []
        for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
            a = sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"]
            subscriptions.append(
                {
                    "protocol": s["Protocol"],
                    "endpoint": s["Endpoint"],
                    "filter_policy": json.loads(a["FilterPolicy"]) if "FilterPolicy" in a else None,
                }
            )
        topics[logical] = {
            "arn": arn,
            "kms_master_key_id": attributes.get("KmsMasterKeyId"),
            "policy": json.loads(attributes["Policy"]) if "Policy" in attributes else None,
            "subscriptions": subscriptions,
        }
    queues = {}
    for logical, url in ids("AWS::SQS::Queue").items():
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        queues[logical] = {
            "url": url,
            "arn": a["QueueArn"],
            "kms_master_key_id": a.get("KmsMasterKeyId"),
            "policy": json.loads(a["Policy"]) if "Policy" in a else None,
            "retention_seconds": int(a["MessageRetentionPeriod"]),
        }
    functions = {}
    for logical, name in ids("AWS::Lambda::Function").items():
        c = lambda_.get_function_configuration(FunctionName=name)
        functions[logical] = {
            "name": name,
            "role": c["Role"],
            "environment": c.get("Environment", {}).get("Variables", {}),
            "runtime": c.get("Runtime"),
            "architectures": c.get("Architectures"),
            "timeout": c.get("Timeout"),
            "memory": c.get("MemorySize"),
        }
    roles = {}
    for logical, name in ids("AWS::IAM::Role").items():
        role = iam.get_role(RoleName=name)["Role"]
        statements = []
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            if isinstance(document, str):
                # moto keeps a policy its CloudFormation made as Python's repr of it.
                document = ast.literal_eval(document)
            # moto leaves an AWS::NoValue list item as null; CloudFormation drops it.
            statements.extend(s for s in document["Statement"] if s is not None)
        roles[logical] = {
            "name": name,
            "arn": role["Arn"],
            "trust": role["AssumeRolePolicyDocument"],
            "statements": statements,
            "managed_policies": [
                p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            ],
        }
    alarms = {}
    for logical, name in ids("AWS::CloudWatch::Alarm").items():
        a = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        alarms[logical] = {
            "name": name,
            "namespace": a.get("Namespace"),
            "metric": a.get("MetricName"),
            "dimensions": {d["Name"]: d["Value"] for d in a.get("Dimensions", [])},
            "actions": a.get("AlarmActions", []),
            "ok_actions": a.get("OKActions", []),
            "treat_missing_data": a.get("TreatMissingData"),
        }
    rules = {}
    for logical, name in ids("AWS::Events::Rule").items():
        r = events.describe_rule(Name=name)
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        rules[logical] = {
            "arn": r["Arn"],
            "pattern": json.loads(r["EventPattern"]) if "EventPattern" in r else None,
            "schedule": r.get("ScheduleExpression"),
            "targets": [t["Arn"] for t in targets],
            "dead_letters": [t.get("DeadLetterConfig", {}).get("Arn") for t in targets],
            "retries": [t.get("RetryPolicy") for t in targets],
        }
    mappings = {}
    for logical, uuid in ids("AWS::Lambda::EventSourceMapping").items():
        m = lambda_.get_event_source_mapping(UUID=uuid)
        mappings[logical] = {
            "source": m["EventSourceArn"],
            "function": m["FunctionArn"],
            "batch_size": m.get("BatchSize"),
        }
    s3 = boto3.client("s3")
    buckets = {}
    for logical, name in ids("AWS::S3::Bucket").items():
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        encryption = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
        buckets[logical] = {
            "name": name,
            "versioning": s3.get_bucket_versioning(Bucket=name).get("Status"),
            "public_access_block": block,
            "encryption": [r["ApplyServerSideEncryptionByDefault"] for r in encryption["Rules"]],
            "policy": json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]),
        }
    dashboards = {}
    for logical, name in ids("AWS::CloudWatch::Dashboard").items():
        body = cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"]
        dashboards[logical] = {"name": name, "body": json.loads(body)}

    return {
        "status": description["StackStatus"],
        "reason": description.get("StackStatusReason"),
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])},
        "resources": {
            r["LogicalResourceId"]: {
                "type": r["ResourceType"],
                "physical": r["PhysicalResourceId"],
                "status": r["ResourceStatus"],
            }
            for r in resources
        },
        "tables": tables,
        "topics": topics,
        "queues": queues,
        "functions": functions,
        "roles": roles,
        "alarms": alarms,
        "rules": rules,
        "mappings": mappings,
        "buckets": buckets,
        "dashboards": dashboards,
    }


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] in ("types", "resources"):
        resources = translate(argv[1], {})["Resources"]
        if argv[0] == "types":
            json.dump(sorted({r["Type"] for r in resources.values()}), sys.stdout)
        else:
            json.dump({name: r["Type"] for name, r in resources.items()}, sys.stdout)
        return
    if len(argv) == 3 and argv[0] == "translated":
        # The whole translated template, for the given parameters (JSON).
        json.dump(translate(argv[1], json.loads(argv[2])), sys.stdout, default=str)
        return
    if len(argv) != 4 or argv[0] != "deploy":
        sys.exit(__doc__)
    _, stack, template_path, parameters_json = argv
    parameters = json.loads(parameters_json)
    upload_code()
    description = deploy(stack, translate(template_path, parameters), parameters)
    if not description["StackStatus"].endswith("_COMPLETE") or "ROLLBACK" in description["StackStatus"]:
        sys.exit(f"{stack}: {description['StackStatus']}: {description.get('StackStatusReason')}")
    json.dump(report(stack, description), sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1:])
