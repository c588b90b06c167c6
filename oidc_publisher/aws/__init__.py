"""The AWS edge: the only modules that import boto3 or botocore. Readers turn AWS state into snapshots;
every AWS and botocore error is translated here into the tool's error type (clients.aws_error)."""
