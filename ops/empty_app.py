"""The smallest app the CDK CLI synthesizes cleanly (one stack, one resource
that costs nothing): the baseline ops/bench.py measures the real app against."""

import aws_cdk as cdk

app = cdk.App()
stack = cdk.Stack(app, "Empty", env=cdk.Environment(account="000000000000", region="eu-west-1"))
cdk.CfnWaitConditionHandle(stack, "Nothing")
app.synth()
