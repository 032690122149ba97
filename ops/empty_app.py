"""An empty CDK app: the baseline that ops/bench.py measures synthesis against."""

import aws_cdk as cdk

cdk.App().synth()
