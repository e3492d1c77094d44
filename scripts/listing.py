"""The template the Serverless Application Repository gets: template.yaml, less what the
repository does not accept, with the repository's address filled in.

    python3 scripts/listing.py TEMPLATE REPOSITORY_URL > listing.json

The repository accepts only the resource types on its published list
(tests/deploy/sar-supported-resources.txt keeps a dated copy, with its source). Every type
the SAM-translated template creates is on it but two: AWS Chatbot's
AWS::Chatbot::SlackChannelConfiguration and a function URL, AWS::Lambda::Url. So the
one-click path has no Chatbot channel and no approver (approving from Slack): the
resources conditioned on HasSlack and HasApprover, those conditions and the parameters
only they read are left out; docs/install.md and docs/slack-app.md say so. `sam deploy` of
template.yaml keeps them. tests/it/template/releases.rs checks the result against
the list, after translation.

The template is written as JSON (CloudFormation and the repository take either), so no
YAML tag is lost on the way.
"""

import json
import sys

from samtranslator.yaml_helper import yaml_parse

# What the one-click path leaves out, and why: the types it cannot hold, the conditions that
# create them, and the parameters that only those conditions read.
LEFT_OUT = [
    {
        "types": ["AWS::Chatbot::SlackChannelConfiguration"],
        "conditions": ["HasSlack"],
        "parameters": ["SlackWorkspaceId", "SlackChannelId"],
    },
    {
        "types": ["AWS::Lambda::Url"],
        "conditions": ["HasApprover", "HasApproverRole"],
        "parameters": ["SlackAppSigningSecretArn", "SlackAppTeamId", "SlackAppId", "SlackApprovers", "ApproverRoleName"],
    },
]

PLACEHOLDER = "REPOSITORY_URL"


def listing(template: dict, repository: str) -> dict:
    for left_out in LEFT_OUT:
        leave_out(template, left_out)
    application = template["Metadata"]["AWS::ServerlessRepo::Application"]
    for field in ("HomePageUrl", "SourceCodeUrl"):
        assert application[field] == PLACEHOLDER, f"{field} is not {PLACEHOLDER}"
        application[field] = repository
    return template


def leave_out(template: dict, left_out: dict) -> None:
    """Removes conditions, what they create, and the parameters only they read."""
    conditions = set(left_out["conditions"])
    gone = {
        name
        for name, resource in template["Resources"].items()
        if resource.get("Condition") in conditions
    }
    for name in gone:
        del template["Resources"][name]
    for condition in conditions:
        del template["Conditions"][condition]
    for parameter in left_out["parameters"]:
        del template["Parameters"][parameter]
    interface = template["Metadata"]["AWS::CloudFormation::Interface"]
    for group in interface["ParameterGroups"]:
        group["Parameters"] = [
            p for p in group["Parameters"] if p not in left_out["parameters"]
        ]
    for name in [n for n, o in template.get("Outputs", {}).items() if o.get("Condition") in conditions]:
        del template["Outputs"][name]
    left = set(references(template))
    dangling = left & (gone | set(left_out["parameters"]) | conditions)
    assert not dangling, f"still referenced: {sorted(dangling)}"
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert not kinds & set(left_out["types"]), kinds


def references(node):
    """Every name a Ref, GetAtt, Condition or Sub names."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield value[0] if isinstance(value, list) else value.split(".")[0]
            elif key in ("Condition", "Fn::If") and isinstance(value, str):
                yield value
            elif key == "Fn::If":
                yield value[0]
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                for part in text.split("${")[1:]:
                    yield part.split("}")[0].split(".")[0]
            yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


if __name__ == "__main__":
    path, repository = sys.argv[1], sys.argv[2]
    print(json.dumps(listing(yaml_parse(open(path).read()), repository), indent=2))
