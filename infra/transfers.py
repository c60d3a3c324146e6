"""The imports/exports bucket (``chalicelib/integrations/transfers``): private, encrypted,
TLS only, objects deleted by lifecycle rules, PUT from the console's origins by presigned
URL; the functions' role reaches ``tenants/*`` in it and nothing else of S3.

Lifecycle: app-written objects carry a ``purpose`` tag (``core.objects.Purpose``): exports
go after 7 days (the API answers 410 from then on), per-row error files after 30; every
object under ``tenants/`` (uploaded import files included, which carry no tag) after 30.
"""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

#: every object key starts so (``core.table.keys.object_key``)
TENANT_PREFIX = "tenants/"
EXPORT_DAYS, ERRORS_DAYS, ANY_DAYS = 7, 30, 30


def transfers_bucket(scope: Construct, cors_origins: str) -> s3.Bucket:
    origins = [o.strip() for o in cors_origins.split(",") if o.strip()]
    cors = [s3.CorsRule(allowed_methods=[s3.HttpMethods.PUT, s3.HttpMethods.GET], allowed_origins=origins,
                        allowed_headers=["Content-Type"], exposed_headers=["ETag"], max_age=3000)] if origins else None
    return s3.Bucket(
        scope, "TransfersBucket",
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        cors=cors,
        lifecycle_rules=[
            s3.LifecycleRule(id="exports", tag_filters={"purpose": "export"},
                             expiration=cdk.Duration.days(EXPORT_DAYS)),
            s3.LifecycleRule(id="import-errors", tag_filters={"purpose": "import-errors"},
                             expiration=cdk.Duration.days(ERRORS_DAYS)),
            s3.LifecycleRule(id="everything", prefix=TENANT_PREFIX, expiration=cdk.Duration.days(ANY_DAYS),
                             abort_incomplete_multipart_upload_after=cdk.Duration.days(1)),
        ],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


def grant_transfers(role: iam.IRole, bucket: s3.IBucket) -> None:
    """Read, write (with tags) and list ``tenants/*``: a HEAD of a missing key must answer
    404, not 403, so the role may list that prefix."""
    role.add_to_principal_policy(iam.PolicyStatement(
        sid="TransfersObjects",
        actions=["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"],
        resources=[bucket.arn_for_objects(TENANT_PREFIX + "*")],
    ))
    role.add_to_principal_policy(iam.PolicyStatement(
        sid="TransfersList",
        actions=["s3:ListBucket"],
        resources=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [TENANT_PREFIX + "*"]}},
    ))
