"""For moto's server: the CloudFormation resource types pipewatch's template uses and moto
5.2.5 does not create itself.

Loaded by `python -m emulator` (this package's __main__), which then runs moto's server with
`moto_server`'s arguments. Each addition creates the real moto
resource through moto's own backend, so what the deploy rehearsal then reads back through
the CloudWatch, SNS or SQS APIs is what the stack made:

- AWS::CloudWatch::Alarm       -> CloudWatch's put_metric_alarm (Ref: name, GetAtt Arn)
- AWS::SNS::Subscription       -> SNS subscribe, with its FilterPolicy and other attributes
- AWS::SNS::TopicPolicy        -> the topics' Policy attribute
- AWS::SQS::QueuePolicy        -> the queues' Policy attribute
- AWS::S3::BucketPolicy        -> S3's put_bucket_policy
- AWS::Scheduler::Schedule     -> EventBridge Scheduler's create_schedule
- AWS::Lambda::EventInvokeConfig -> recorded only (moto keeps no such setting)
- AWS::Lambda::Url             -> recorded, with the FunctionUrl a real one would have (moto
  has no function URLs), so the stack's output and the auth type can be checked
- AWS::Chatbot::SlackChannelConfiguration -> recorded only (moto has no Chatbot), so the
  stack still lists it and its properties can be checked

and six corrections of moto's own handling:

- AWS::S3::Bucket: moto applied BucketEncryption and Tags only; its versioning, public
  access block and ownership controls are applied too, through S3's own backend.

- AWS::Events::Rule: an EventPattern given as a string (as `!Join` makes it) is valid
  CloudFormation; moto encoded it a second time and then failed to parse it.
- AWS::DynamoDB::Table: moto dropped TimeToLiveSpecification, and had no update, so a
  stack update lost track of the table. An update that keeps the key schema and name
  changes the table in place, as CloudFormation does; one that changes them replaces it
  with a new, empty table, as CloudFormation would (which, under the template's
  UpdateReplacePolicy: Retain, would keep the old table aside rather than delete it).
- AWS::SNS::Topic: moto deleted and created a topic again on any change of its
  definition, under a new name, so its subscriptions and policy were lost. An update that
  keeps its TopicName and FifoTopic changes it in place (its KmsMasterKeyId and
  DisplayName), as CloudFormation does; one that changes them replaces it.
- A stack update skips a changed resource whose condition is false, as a create does; moto
  updated it anyway and failed on its references to resources that do not exist.
- A changed resource of a type moto cannot update (a KMS key, for one) is kept as it was;
  moto forgot it, and every reference to it then failed. Its new properties are not
  applied: the rehearsal proves what survives an update, not the update of such a type.
"""

import json
from typing import Any

from moto.cloudformation import parsing
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.events.models import Rule
from moto.s3.models import FakeBucket, s3_backends
from moto.scheduler.models import scheduler_backends
from moto.utilities.utils import get_partition
from moto.sns.models import Topic, sns_backends
from moto.sqs.models import sqs_backends


class _Added:
    """Defaults shared by the additions: an update deletes and creates again. Each addition
    names CloudFormationModel as a direct base: moto lists models as its __subclasses__()."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        pass

    def delete(self, account_id: str, region_name: str) -> None:
        pass

    def is_created(self) -> bool:
        return True


class CloudWatchAlarm(_Added, CloudFormationModel):
    def __init__(self, alarm):
        self.alarm = alarm

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.alarm.alarm_arn

    @property
    def physical_resource_id(self) -> str:
        return self.alarm.name

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        p = cloudformation_json["Properties"]
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=p.get("AlarmName") or resource_name,
            namespace=p.get("Namespace"),
            metric_name=p.get("MetricName"),
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p["Period"]) if "Period" in p else None,
            threshold=float(p["Threshold"]) if "Threshold" in p else None,
            statistic=p.get("Statistic"),
            description=p.get("AlarmDescription"),
            dimensions=p.get("Dimensions", []),
            alarm_actions=p.get("AlarmActions", []),
            ok_actions=p.get("OKActions", []),
            insufficient_data_actions=p.get("InsufficientDataActions", []),
            datapoints_to_alarm=p.get("DatapointsToAlarm"),
            treat_missing_data=p.get("TreatMissingData"),
            unit=p.get("Unit"),
        )
        return cls(alarm)

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.alarm.name])


class SnsSubscription(_Added, CloudFormationModel):
    ATTRIBUTES = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")

    def __init__(self, subscription):
        self.subscription = subscription

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @property
    def physical_resource_id(self) -> str:
        return self.subscription.arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        p = cloudformation_json["Properties"]
        backend = sns_backends[account_id][region_name]
        subscription = backend.subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
        for name in cls.ATTRIBUTES:
            if name in p:
                value = p[name]
                if not isinstance(value, str):
                    value = json.dumps(value) if isinstance(value, dict) else str(value).lower()
                backend.set_subscription_attributes(subscription.arn, name, value)
        return cls(subscription)

    def delete(self, account_id: str, region_name: str) -> None:
        sns_backends[account_id][region_name].unsubscribe(self.subscription.arn)


class _Policy(_Added):
    def __init__(self, name: str):
        self.name = name

    @property
    def physical_resource_id(self) -> str:
        return self.name


class SnsTopicPolicy(_Policy, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        p = cloudformation_json["Properties"]
        for topic in p["Topics"]:
            sns_backends[account_id][region_name].set_topic_attribute(
                topic, "policy", json.dumps(p["PolicyDocument"])
            )
        return cls(resource_name)


class SqsQueuePolicy(_Policy, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        p = cloudformation_json["Properties"]
        for url in p["Queues"]:
            sqs_backends[account_id][region_name].set_queue_attributes(
                url.rsplit("/", 1)[-1], {"Policy": json.dumps(p["PolicyDocument"])}
            )
        return cls(resource_name)


class S3BucketPolicy(_Policy, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        p = cloudformation_json["Properties"]
        s3_backends[account_id][get_partition(region_name)].put_bucket_policy(
            p["Bucket"], json.dumps(p["PolicyDocument"]).encode()
        )
        return cls(resource_name)


class SchedulerSchedule(_Added, CloudFormationModel):
    def __init__(self, schedule):
        self.schedule = schedule

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Scheduler::Schedule"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.schedule.arn

    @property
    def physical_resource_id(self) -> str:
        return self.schedule.name

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        p = cloudformation_json["Properties"]
        schedule = scheduler_backends[account_id][region_name].create_schedule(
            description=p.get("Description"),
            end_date=p.get("EndDate"),
            flexible_time_window=p["FlexibleTimeWindow"],
            group_name=p.get("GroupName"),
            kms_key_arn=p.get("KmsKeyArn"),
            name=p.get("Name") or resource_name,
            schedule_expression=p["ScheduleExpression"],
            schedule_expression_timezone=p.get("ScheduleExpressionTimezone"),
            start_date=p.get("StartDate"),
            state=p.get("State", "ENABLED"),
            target=p["Target"],
            action_after_completion=None,
        )
        return cls(schedule)

    def delete(self, account_id: str, region_name: str) -> None:
        scheduler_backends[account_id][region_name].delete_schedule(
            self.schedule.group_name, self.schedule.name
        )


class _Recorded(_Added):
    """Recorded only: the stack lists it and keeps its properties."""

    def __init__(self, name: str, properties: dict[str, Any]):
        self.name = name
        self.properties = properties

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        return cls(resource_name, cloudformation_json["Properties"])


class ChatbotSlackChannel(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Chatbot::SlackChannelConfiguration"


class LambdaEventInvokeConfig(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"


class LambdaUrl(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionUrl", "FunctionArn")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "FunctionUrl":
            return f"https://{abs(hash(self.name)) % 10**12:012d}.lambda-url.us-east-1.on.aws/"
        return str(self.properties.get("TargetFunctionArn", ""))


def _rule_with_string_pattern(original):
    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        if isinstance(properties.get("EventPattern"), str):
            # moto json-encodes whatever it gets; give it the object the string encodes.
            properties["EventPattern"] = json.loads(properties["EventPattern"])
        return original(resource_name, cloudformation_json, account_id, region_name, **kwargs)

    return classmethod(create)


def _table_with_ttl(original):
    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        table = original(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        ttl = cloudformation_json["Properties"].get("TimeToLiveSpecification")
        if ttl:
            dynamodb_backends[account_id][region_name].update_time_to_live(table.name, ttl)
        return table

    return classmethod(create)


def _table_update(
    cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
):
    properties = cloudformation_json["Properties"]
    backend = dynamodb_backends[account_id][region_name]
    same_name = properties.get("TableName") in (None, original_resource.name)
    if same_name and properties.get("KeySchema") == original_resource.schema:
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            backend.update_time_to_live(original_resource.name, ttl)
        return original_resource
    # CloudFormation replaces the table: a new one is created, the old one deleted.
    backend.delete_table(original_resource.name)
    return cls.create_from_cloudformation_json(
        new_resource_name, cloudformation_json, account_id, region_name
    )


def _topic_update(
    cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
):
    properties = cloudformation_json["Properties"]
    same_name = properties.get("TopicName") in (None, original_resource.name)
    same_kind = str(properties.get("FifoTopic", False)).lower() == str(
        original_resource.fifo_topic
    ).lower()
    if same_name and same_kind:
        original_resource.kms_master_key_id = properties.get("KmsMasterKeyId", "")
        original_resource.display_name = properties.get("DisplayName", "")
        return original_resource
    # CloudFormation replaces the topic: a new one is created, the old one deleted.
    original_resource.delete(account_id, region_name)
    return cls.create_from_cloudformation_json(
        new_resource_name, cloudformation_json, account_id, region_name
    )


def _bucket_with_its_settings(original):
    def create(resource_name, cloudformation_json, account_id, region_name, **kwargs):
        bucket = original(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        p = cloudformation_json.get("Properties", {})
        backend = s3_backends[account_id][get_partition(region_name)]
        if "VersioningConfiguration" in p:
            backend.put_bucket_versioning(bucket.name, p["VersioningConfiguration"]["Status"])
        if "PublicAccessBlockConfiguration" in p:
            backend.put_public_access_block(
                bucket.name,
                {k: str(v).lower() for k, v in p["PublicAccessBlockConfiguration"].items()},
            )
        if "OwnershipControls" in p:
            backend.put_bucket_ownership_controls(
                bucket.name, p["OwnershipControls"]["Rules"][0]["ObjectOwnership"]
            )
        return bucket

    return create


def _update_when_its_condition_holds(original):
    def update(logical_id, resource_json, resources_map, account_id, region_name):
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return None
        model = parsing.resource_class_from_type(resource_json["Type"])
        if model and hasattr(model.update_from_cloudformation_json, "__isabstractmethod__"):
            # moto cannot update this type; it used to forget the resource. Keep it as it is.
            return resources_map[logical_id]
        return original(logical_id, resource_json, resources_map, account_id, region_name)

    return update


parsing.parse_and_update_resource = _update_when_its_condition_holds(
    parsing.parse_and_update_resource
)
Rule.create_from_cloudformation_json = _rule_with_string_pattern(
    Rule.create_from_cloudformation_json
)
Table.create_from_cloudformation_json = _table_with_ttl(Table.create_from_cloudformation_json)
FakeBucket.create_from_cloudformation_json = _bucket_with_its_settings(
    FakeBucket.create_from_cloudformation_json
)
Table.update_from_cloudformation_json = classmethod(_table_update)
Topic.update_from_cloudformation_json = classmethod(_topic_update)
