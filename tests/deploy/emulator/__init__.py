"""moto's server with the CloudFormation resource types pipewatch's template needs (resources.py)."""
