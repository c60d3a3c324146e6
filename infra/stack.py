"""The Enclave stack: the single table, the cursor secret, the Stripe secret, the console's
Cognito pool, the Chalice app (API Gateway + the API handler, the ``run_job`` background-job
function, the journeys' ``journey_step`` function and the scheduled functions) on a
least-privilege role, the journey timers' Step Functions state machine, and alarms.

The stack's construct id is the Chalice stage (``dev``, ``prod``): the ``chalice.cdk``
construct takes its stage from its scope's name, so ``.chalice/config.json`` stage
settings apply only when they match it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from chalice.cdk import Chalice
from constructs import Construct

from chalicelib.core import errors as problems
from chalicelib.core.http import CORS_EXPOSED
from chalicelib.core.table import definition

from .transfers import grant_transfers, transfers_bucket

#: The Chalice project (app.py, chalicelib/, .chalice/config.json, requirements.txt).
PROJECT_DIR = Path(__file__).resolve().parent.parent

SERVICE_NAME = "enclave"
PLATFORM_ADMIN_GROUP = "platform-admin"
API_GATEWAY_STAGE = "api"
DEFAULT_TIMEOUT = 30  # seconds; the API handler's (API Gateway gives up after 29 s)
DEFAULT_MEMORY = 512  # MB
#: API Gateway's own limits, before any Lambda runs: the whole stage, and each API key of
#: the tenants' usage plan. The app's per-tenant limit (core.throttle) comes after these
#: (docs/decisions/0016-tenant-throttling-and-sale-day-caches.md).
STAGE_THROTTLE = {"rate": 5000.0, "burst": 2500}
KEY_THROTTLE = {"rate": 1000.0, "burst": 500}
KEY_QUOTA_PER_DAY = 50_000_000


#: API Gateway's own answers (the request never reached the app), rendered like the app's:
#: problem+json with a stable code. (response type, status or None: keep API Gateway's,
#: code, title). An unknown path or method is MISSING_AUTHENTICATION_TOKEN: a 404.
GATEWAY_RESPONSES: tuple[tuple[str, str | None, str, str], ...] = (
    ("MISSING_AUTHENTICATION_TOKEN", "404", "not_found", "Not found"),
    ("UNSUPPORTED_MEDIA_TYPE", "415", "unsupported_media_type", "Send application/json"),
    ("REQUEST_TOO_LARGE", "413", "payload_too_large", "Request body too large"),
    ("THROTTLED", "429", "throttled", "Too many requests"),
    ("QUOTA_EXCEEDED", "429", "quota_exceeded", "Too many requests"),
    ("ACCESS_DENIED", "403", "forbidden", "Not allowed for this credential"),
    ("UNAUTHORIZED", "401", "unauthorized", "Missing or invalid credentials"),
    ("INTEGRATION_TIMEOUT", "504", "timeout", "The request took too long"),
    ("INTEGRATION_FAILURE", "502", "bad_gateway", "Bad gateway"),
    ("DEFAULT_4XX", None, "gateway_rejected", "The request was not accepted"),
    ("DEFAULT_5XX", None, "gateway_error", "Something went wrong on our side"),
)


def gateway_response_template(status: str | None, code: str, title: str) -> str:
    """The problem+json body API Gateway renders (its own message as ``detail``; the
    status when the response type fixes it)."""
    fields = [f'"type": "{problems.PROBLEM_BASE}{code}"', f'"title": "{title}"']
    if status is not None:
        fields.append(f'"status": {status}')
    fields += [f'"code": "{code}"', '"detail": $context.error.messageString',
               '"request_id": "$context.requestId"']
    return "{" + ", ".join(fields) + "}"


def gateway_cors_headers(cors_origins: str) -> dict[str, str]:
    """CORS headers on API Gateway's own answers. They cannot depend on the request's
    Origin, so only a single allowed origin gets them (named, with credentials: a browser
    on any other origin is refused as by the app); with several, none (never
    credentials for an origin that is not allowed)."""
    origins = [o.strip() for o in cors_origins.split(",") if o.strip()]
    if len(origins) != 1 or "'" in origins[0] or "*" in origins[0]:
        return {}
    return {
        "Access-Control-Allow-Origin": origins[0],
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": CORS_EXPOSED,
        "Vary": "Origin",
    }


@dataclass(frozen=True)
class AppFunction:
    """A function of ``app.py`` besides the API handler (``@app.lambda_function``,
    ``@app.schedule``). It is deployed as ``<stack name>-<name>`` (``enclave-dev-run_job``,
    what ``chalice deploy`` would call it) so that its name is known before it exists."""

    name: str  # the ``name=`` given in app.py
    timeout: int = DEFAULT_TIMEOUT
    memory: int = DEFAULT_MEMORY


#: By logical id in the packaged template (Chalice CamelCases the name). Per-function
#: ``lambda_functions`` settings are read only from ``.chalice/config.json``, never from
#: the construct's ``stage_config``, so timeouts and memory are set on the resources here.
APP_FUNCTIONS = {
    # runs a job's steps until done or ~30 s before its timeout, then re-dispatches itself
    "RunJob": AppFunction("run_job", timeout=900, memory=1024),
    "Nightly": AppFunction("nightly", timeout=60),  # only starts a job
    "JobSweeper": AppFunction("job_sweeper", timeout=60),  # only re-dispatches stale jobs
    "RenewalReminders": AppFunction("renewal_reminders", timeout=60),  # only starts a job
    "StripeReconciliation": AppFunction("stripe_reconciliation", timeout=60),  # likewise
    # removes expired tags across every tenant inline (a page of expiry entries each)
    "TagExpiry": AppFunction("tag_expiry", timeout=300),
    # expires open guide tasks past due + grace across every tenant (a Query of due tasks each)
    "TaskExpiry": AppFunction("task_expiry", timeout=300),
    # delivers signals whose after-commit delivery did not finish (core.signals), every minute
    "OutboxSweeper": AppFunction("outbox_sweeper", timeout=300),
    # expires due points lots and sends expiry notices, hourly (a Query per due-list shard)
    "PointsExpiry": AppFunction("points_expiry", timeout=300),
    # sends event-subscription deliveries due for a retry (4 s per call at most), every minute
    "WebhookDeliveries": AppFunction("webhook_deliveries", timeout=300),
    # the journey timers' task: runs one enrolment's steps (a transaction, then deliveries)
    "JourneyStep": AppFunction("journey_step", timeout=60),
    # fires DynamoDB-kept timers (ENCLAVE_TIMERS=local); with Step Functions a no-op
    "JourneyTimers": AppFunction("journey_timers", timeout=60),
    # restarts lost timer starts and retries due deliveries, every minute
    "JourneySweeper": AppFunction("journey_sweeper", timeout=60),
    # date and segment triggers for every tenant, hourly: starts jobs, walks segments
    "JourneyTriggers": AppFunction("journey_triggers", timeout=300),
}
RUN_JOB = "RunJob"
JOURNEY_STEP = "JourneyStep"
#: journey timer adapters a stage may choose (context ``timers``; Step Functions by default)
TIMER_ADAPTERS = ("stepfunctions", "scheduler")
#: The journeys' functions: ``app.py`` defines all of them or none (the stack then has no
#: state machine and grants nothing for journeys); any other function of APP_FUNCTIONS
#: missing from app.py fails the synth.
JOURNEY_FUNCTIONS = frozenset({JOURNEY_STEP, "JourneyTimers", "JourneySweeper",
                               "JourneyTriggers"})
#: ``AWS.SNS.SMS.SMSType`` values (context ``sms_type``); journeys default to Promotional
SMS_TYPES = ("Promotional", "Transactional")
#: an SMS sender ID: 1-11 letters and digits, at least one letter (where countries allow)
SMS_SENDER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9]{1,11}")
#: async invokes of run_job that raised are retried this many times (Lambda's default,
#: made explicit); the sweeper re-dispatches whatever is still stale after that
RUN_JOB_RETRIES = 2
#: run_job's reserved concurrency (context ``job_concurrency``): how many job steps run at
#: once across the stage, e.g. 4 tenants' 16-range nightly passes side by side. Async
#: invokes over it wait in Lambda's own queue (retried up to 6 h), so a fan-out never takes
#: the API's concurrency; the 1M-member extrapolation in `make bench` assumes 16 per tenant.
JOB_CONCURRENCY = 64

#: The Stripe secret's value until an operator puts the real keys (infra/README.md):
#: ``{"secret_key": STRIPE_SECRET_KEY_PLACEHOLDER, "webhook_secret": <64 random characters>}``.
#: The webhook secret is generated, not a fixed placeholder, so that a stage whose secret
#: was never filled rejects every webhook instead of accepting events signed with a value
#: anyone can read here; Stripe rejects the placeholder key.
STRIPE_SECRET_KEY_PLACEHOLDER = "sk_test_replace_me"
#: The app's public Stripe webhook route (``chalicelib/billing/routes.py``), under the API
#: Gateway stage; its URL is the output ``StripeWebhookURL``.
STRIPE_WEBHOOK_PATH = "/webhooks/stripe"
#: Never in a deployed function's environment. The local stack and tests only: stripe-mock
#: and its in-memory state; DynamoDB Local; local SES/SNS mocks; tenant webhooks to loopback
#: addresses (``core.outbound``; in Lambda, 127.0.0.1 is the runtime API). And the Stripe
#: keys in plain text, which would take precedence over the Stripe secret.
FORBIDDEN_ENVIRONMENT = frozenset({
    "ENCLAVE_STRIPE_API_BASE", "ENCLAVE_STRIPE_STATELESS_MOCK",
    "ENCLAVE_STRIPE_SECRET_KEY", "ENCLAVE_STRIPE_WEBHOOK_SECRET",
    "ENCLAVE_DYNAMODB_ENDPOINT", "ENCLAVE_SES_ENDPOINT", "ENCLAVE_SNS_ENDPOINT",
    "ENCLAVE_OUTBOUND_ALLOW_LOOPBACK", "ENCLAVE_S3_ENDPOINT",
})


def check_environment(packaged: dict[str, Any]) -> None:
    """Fail the synth if a packaged function's environment sets a forbidden variable
    (``.chalice/config.json`` and the construct's ``stage_config`` both feed it). The
    settings are read case-insensitively, so the names are compared that way too."""
    found = sorted(
        f"{logical_id}: {key}"
        for logical_id, resource in packaged.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Serverless::Function"
        for key in (resource.get("Properties", {}).get("Environment", {})
                    .get("Variables", {}))
        if key.upper() in FORBIDDEN_ENVIRONMENT)
    if found:
        raise ValueError("environment variables for the local stack only (stripe-mock, "
                         "DynamoDB Local, mocks, loopback webhooks) or for the Stripe secret, "
                         "set on deployed functions: " + ", ".join(found)
                         + ". Remove them from .chalice/config.json.")


def check_functions(found: set[str]) -> bool:
    """Whether the packaged app has the journeys' functions (``JOURNEY_FUNCTIONS``, all of
    them or none); fail the synth if it lacks any other function of ``APP_FUNCTIONS``, or
    only some of the journeys'."""
    missing = set(APP_FUNCTIONS) - found
    if missing and missing != JOURNEY_FUNCTIONS:
        raise RuntimeError(f"app.py no longer defines {sorted(missing)}: update "
                           "APP_FUNCTIONS in infra/stack.py")
    return not missing


def _delivery_settings(email_from: str, sms_type: str, sms_sender_id: str) -> dict[str, str]:
    """The journeys' delivery settings for every function's environment (the context
    values ``email_from``, ``sms_type``, ``sms_sender_id``; infra/README.md), checked here
    so that a typo fails the synth rather than every send."""
    if email_from and "@" not in email_from:
        raise ValueError(f"email_from {email_from!r} is not an email address (an SES-verified "
                         "identity, e.g. news@brand.example or 'Brand <news@brand.example>')")
    if sms_type not in SMS_TYPES:
        raise ValueError(f"sms_type {sms_type!r}: use one of {', '.join(SMS_TYPES)}")
    if sms_sender_id and not SMS_SENDER_ID.fullmatch(sms_sender_id):
        raise ValueError(f"sms_sender_id {sms_sender_id!r}: 1-11 letters and digits, at least "
                         "one letter")
    return {
        # the sender when a tenant has no email_from of its own; empty: such sends fail
        # ("no sender") instead of going out from an unverified address
        "ENCLAVE_EMAIL_FROM": email_from,
        "ENCLAVE_SMS_TYPE": sms_type,
        "ENCLAVE_SMS_SENDER_ID": sms_sender_id,  # empty: none (the carrier's default)
    }


#: a sender domain of the stage (context ``sender_domains``)
SENDER_DOMAIN = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def _sender_domains(sender_domains: str, email_from: str) -> list[str]:
    """The domains the stage's functions may send email from (the ``ses:FromAddress``
    condition): the context value ``sender_domains`` (comma separated: the platform's and
    the onboarded tenants' domains) plus the domain of ``email_from``. Tenants choose among
    their own verified domains in the app; this is the ceiling no code path can pass."""
    domains = {d.strip().lower() for d in sender_domains.split(",") if d.strip()}
    if email_from:
        domains.add(email_from.strip().rstrip(">").rsplit("@", 1)[-1].lower())
    bad = sorted(d for d in domains if not SENDER_DOMAIN.fullmatch(d))
    if bad:
        raise ValueError(f"sender_domains: {', '.join(bad)} is not a domain (e.g. mail.brand.example)")
    return sorted(domains)


class IsolatedChalice(Chalice):
    """``chalice.cdk.Chalice`` that leaves the synthesizing process as it found it.

    The stock construct (chalice 1.34) packages the app in-process, and ``package_app``
    then copies the stage's environment variables into ``os.environ`` for good (CDK
    tokens such as ``${Token[TOKEN.12]}`` for the table name) and imports ``app`` under
    them: a test session that synthesizes first would later read a token as its table
    name. It also writes ``chalice.out/`` (about 23 MB per synth, never removed) into the
    current directory. Here packaging runs in a child Python process, and ``chalice.out/``
    lives in a temporary directory removed once the construct has read the packaged
    template and staged the bundle into the cloud assembly.

    Tokens survive the trip: the child writes them into ``sam.json`` as plain strings and
    ``CfnInclude`` resolves them in this process, where they were made. The packaged
    template is kept as ``packaged`` (plain JSON, tokens as strings) for checks.
    """

    packaged: dict[str, Any]

    def __init__(self, scope: Construct, construct_id: str, *, source_dir: str,
                 stage_config: dict[str, Any]) -> None:
        work = tempfile.mkdtemp(prefix="enclave-chalice-")
        previous = os.getcwd()
        os.chdir(work)  # the construct puts chalice.out/ under the current directory
        try:
            super().__init__(scope, construct_id, source_dir=source_dir,
                             stage_config=stage_config)
        finally:
            os.chdir(previous)
            shutil.rmtree(work, ignore_errors=True)

    def _package_app(self) -> None:
        request = {
            "project_dir": self.source_dir,
            "output_dir": self._sam_package_dir,
            "stage": self.stage_name,
            "chalice_config": self.stage_config,
        }
        code = ("import json, sys\nfrom chalice import api\n"
                "api.package_app(**json.load(sys.stdin))\n")
        done = subprocess.run([sys.executable, "-c", code], input=json.dumps(request),
                              text=True, capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"chalice packaging failed (exit {done.returncode}):\n"
                               f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        self.packaged = json.loads(
            (Path(self._sam_package_dir) / "sam.json").read_text(encoding="utf-8"))


class EnclaveStack(cdk.Stack):
    """One Enclave deployment; ``stage`` is both the construct id and the Chalice stage."""

    #: whether app.py defines the journeys' functions (then: the state machine, its grants)
    has_journeys: bool

    def __init__(self, scope: Construct, stage: str, *, cors_origins: str = "",
                 email_from: str = "", sms_type: str = "Promotional", sms_sender_id: str = "",
                 sender_domains: str = "", job_concurrency: int = JOB_CONCURRENCY,
                 log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
                 timers: str = "stepfunctions", **kwargs: Any) -> None:
        kwargs.setdefault("stack_name", f"{SERVICE_NAME}-{stage}")
        kwargs.setdefault("description", f"Enclave API ({stage})")
        super().__init__(scope, stage, **kwargs)
        self.stage = stage
        self.function_names = {logical_id: f"{self.stack_name}-{fn.name}"
                               for logical_id, fn in APP_FUNCTIONS.items()}
        for name in self.function_names.values():
            if len(name) > 64:
                raise ValueError(f"Lambda function name {name!r} is over 64 characters")
        self.run_job_name = self.function_names[RUN_JOB]
        if job_concurrency < 1:
            raise ValueError(f"job_concurrency must be at least 1, not {job_concurrency}")
        self.job_concurrency = job_concurrency
        # Named in advance, like the functions: every function starts and stops timers by
        # this ARN (a plain string, so no function refers to the state machine, which
        # refers to journey_step), and the role is granted on it.
        self.state_machine_name = f"{self.stack_name}-journey-timers"
        if len(self.state_machine_name) > 80:
            raise ValueError(f"state machine name {self.state_machine_name!r} is over 80 "
                             "characters")
        self.state_machine_arn = self.format_arn(
            service="states", resource="stateMachine", resource_name=self.state_machine_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        self._name_journey_scheduler(timers)
        self.delivery_settings = _delivery_settings(email_from, sms_type, sms_sender_id)
        self.sender_domains = _sender_domains(sender_domains, email_from)
        self.table = self._table()
        self.cursor_secret = secretsmanager.Secret(
            self, "CursorSecret",
            description=f"Enclave {stage}: HMAC key that signs pagination cursors",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True),
        )
        self.stripe_secret = self._stripe_secret()
        self.user_pool, self.user_pool_client = self._cognito()
        self.job_failures = sqs.Queue(
            self, "JobRunFailures", retention_period=cdk.Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True)
        self.transfers_bucket = transfers_bucket(self, cors_origins)  # imports and exports (infra/transfers.py)
        self.role = self._lambda_role()
        grant_transfers(self.role, self.transfers_bucket)
        self.chalice = self._chalice_app(cors_origins, log_retention)
        self.api_handler = self.chalice.get_function("APIHandler")
        self.run_job = self.chalice.get_function(RUN_JOB)
        self.journey_step: lambda_.IFunction | None = None
        self.state_machine: sfn.StateMachine | None = None
        if self.has_journeys:
            self.journey_step = self.chalice.get_function(JOURNEY_STEP)
            self._journey_permissions()
            self.state_machine = self._journey_timers(log_retention)
            self._journey_scheduler()
        self._alarms()
        cdk.CfnOutput(self, "TableName", value=self.table.table_name)
        cdk.CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        cdk.CfnOutput(self, "UserPoolClientId", value=self.user_pool_client.user_pool_client_id)
        if self.state_machine is not None:
            cdk.CfnOutput(self, "JourneyTimersStateMachineArn",
                          value=self.state_machine.state_machine_arn)
        # The API URL is the packaged template's own output ``EndpointURL`` (CfnInclude
        # keeps Chalice's outputs: EndpointURL, RestAPIId, APIHandlerName, APIHandlerArn).
        cdk.CfnOutput(
            self, "StripeSecretArn", value=self.stripe_secret.secret_arn,
            description="Put the Stripe platform keys here (infra/README.md, Stripe)")
        rest_api = self.chalice.get_resource("RestAPI")
        cdk.CfnOutput(
            self, "StripeWebhookURL",
            value=(f"https://{rest_api.ref}.execute-api.{self.region}.{self.url_suffix}"
                   f"/{API_GATEWAY_STAGE}{STRIPE_WEBHOOK_PATH}"),
            description="Register as the Stripe Connect webhook endpoint (infra/README.md)")

    # -- data ---------------------------------------------------------------------------
    def _table(self) -> dynamodb.Table:
        string = dynamodb.AttributeType.STRING
        table = dynamodb.Table(
            self, "Table",
            partition_key=dynamodb.Attribute(name=definition.PK, type=string),
            sort_key=dynamodb.Attribute(name=definition.SK, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            deletion_protection=True,
            time_to_live_attribute=definition.TTL_ATTRIBUTE,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        for index_name, (hash_key, range_key) in definition.GSIS.items():
            table.add_global_secondary_index(
                index_name=index_name,
                partition_key=dynamodb.Attribute(name=hash_key, type=string),
                sort_key=dynamodb.Attribute(name=range_key, type=string),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    # -- Stripe -------------------------------------------------------------------------
    def _stripe_secret(self) -> secretsmanager.Secret:
        """The platform's Stripe keys, ``{"secret_key": "sk_...", "webhook_secret":
        "whsec_..."}``, which the billing gateway reads through Powertools Parameters. The
        stack creates it with placeholders (``STRIPE_SECRET_KEY_PLACEHOLDER``, a random
        webhook secret); an operator puts the real keys. CloudFormation does not write the
        value again unless the generator settings below change, so keep them as they are.
        Unnamed (a retained secret with a fixed name would block re-creating the stack);
        its ARN is the output ``StripeSecretArn``."""
        return secretsmanager.Secret(
            self, "StripeSecret",
            description=(f"Enclave {self.stage}: Stripe platform keys, JSON {{secret_key, "
                         "webhook_secret}; placeholders until an operator puts the real ones "
                         "(infra/README.md)"),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(
                    {"secret_key": STRIPE_SECRET_KEY_PLACEHOLDER}),
                generate_string_key="webhook_secret",
                password_length=64, exclude_punctuation=True),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    # -- console sign-in ----------------------------------------------------------------
    def _cognito(self) -> tuple[cognito.UserPool, cognito.UserPoolClient]:
        pool = cognito.UserPool(
            self, "UserPool",
            self_sign_up_enabled=False,  # users are created by an admin, never by themselves
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            keep_original=cognito.KeepOriginalAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)),
            # Written only through the admin API (AdminUpdateUserAttributes): the app
            # client below cannot write them, so no user can change their tenant or role.
            custom_attributes={
                "tenant_id": cognito.StringAttribute(min_len=1, max_len=64, mutable=True),
                "role": cognito.StringAttribute(min_len=1, max_len=32, mutable=True),
            },
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_lowercase=True, require_uppercase=True,
                require_digits=True, require_symbols=False),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        client = pool.add_client(
            "ConsoleClient",
            generate_secret=False,  # a browser app cannot keep a secret
            auth_flows=cognito.AuthFlow(user_srp=True),
            disable_o_auth=True,  # no hosted UI: the SPA signs in with SRP
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=cdk.Duration.hours(1),
            access_token_validity=cdk.Duration.hours(1),
            refresh_token_validity=cdk.Duration.days(30),
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True, fullname=True)
            .with_custom_attributes("tenant_id", "role"),
            write_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, fullname=True),
        )
        cognito.CfnUserPoolGroup(
            self, "PlatformAdminGroup",
            user_pool_id=pool.user_pool_id,
            group_name=PLATFORM_ADMIN_GROUP,
            description="Platform operators: may provision tenants through the admin routes",
        )
        return pool, client

    # -- the functions' role ------------------------------------------------------------
    def _lambda_role(self) -> iam.Role:
        """The role every Chalice function runs as; Chalice generates no policy of its own."""
        role = iam.Role(
            self, "ApiRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=("Enclave Lambda functions: the table, the cursor and Stripe secrets, "
                         "logs, X-Ray, invoking run_job"),
        )
        # SAM names the API handler <stack name>-APIHandler-<suffix>; the others are
        # named <stack name>-<name> (APP_FUNCTIONS).
        log_groups = self.format_arn(
            service="logs", resource="log-group",
            resource_name=f"/aws/lambda/{self.stack_name}-*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        role.add_to_policy(iam.PolicyStatement(
            sid="Logs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_groups, f"{log_groups}:log-stream:*"],
        ))
        role.add_to_policy(iam.PolicyStatement(
            sid="XRay",  # these two X-Ray actions have no resource-level permissions
            actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            resources=["*"],
        ))
        self.table.grant_read_write_data(role)  # the table's ARN and its indexes only
        self.cursor_secret.grant_read(role)  # GetSecretValue/DescribeSecret on this secret
        self.stripe_secret.grant_read(role)  # the same, on this one
        # The job dispatcher (API handler, sweeper, run_job re-dispatching itself) invokes
        # run_job by name, unqualified. The ARN is built from the name, not taken from the
        # function: the functions depend on this policy, so a reference would be a cycle.
        role.add_to_policy(iam.PolicyStatement(
            sid="InvokeRunJob",
            actions=["lambda:InvokeFunction"],
            resources=[self.format_arn(
                service="lambda", resource="function", resource_name=self.run_job_name,
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)],
        ))
        # Lambda sends a failed async run_job invoke to its on-failure destination as
        # the function's own role: this queue only
        role.add_to_policy(iam.PolicyStatement(
            sid="RecordFailedJobRuns", actions=["sqs:SendMessage"], resources=[self.job_failures.queue_arn]))
        return role

    def _journey_permissions(self) -> None:
        """What journeys add to the functions' role: their timers (one execution each,
        started by name, stopped when an enrolment ends early) and their channels."""
        self.role.add_to_policy(iam.PolicyStatement(
            sid="StartJourneyTimers",
            actions=["states:StartExecution"],
            resources=[self.state_machine_arn],  # a string, not a reference: no cycle
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="StopJourneyTimers",
            actions=["states:StopExecution"],
            resources=[self.format_arn(
                service="states", resource="execution",
                resource_name=f"{self.state_machine_name}:*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)],
        ))
        # SES authorizes a send on the sender's identity (an address or its domain; in the
        # sandbox the recipients' too): any verified identity of this account and region,
        # since each tenant may send from its own, but only From an address on the stage's
        # sender domains (none listed: no email at all). The app lets a tenant use only
        # its own verified domains; this keeps any code path from sending as anyone else.
        if self.sender_domains:
            self.role.add_to_policy(iam.PolicyStatement(
                sid="SendJourneyEmail",
                actions=["ses:SendEmail", "ses:SendRawEmail"],
                resources=[self.format_arn(
                    service="ses", resource="identity", resource_name="*",
                    arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME)],
                conditions={"StringLike": {"ses:FromAddress": [f"*@{d}" for d in self.sender_domains]}},
            ))
        # Tenants register sender domains (the app starts SES's verification and reads
        # its state); these SES actions have no resource to scope them to.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="VerifySenderDomains",
            actions=["ses:VerifyDomainIdentity", "ses:GetIdentityVerificationAttributes"],
            resources=["*"],
        ))
        # A Publish to a phone number has no ARN to grant on and SNS has no condition key
        # for it (sns:Protocol and sns:Endpoint apply to Subscribe only), so the Allow is
        # on "*"; the Deny takes every SNS ARN (topics, mobile endpoints, any account)
        # back out of it, which leaves SMS only.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="SendJourneySms",
            actions=["sns:Publish"],
            resources=["*"],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="NoSnsPublishButSms",
            effect=iam.Effect.DENY,
            actions=["sns:Publish"],
            resources=[f"arn:{self.partition}:sns:*:*:*"],
        ))

    def _journey_timers(self, log_retention: logs.RetentionDays) -> sfn.StateMachine:
        """The journey timers: one STANDARD execution per timer (Wait until ``due_at``,
        then invoke ``journey_step``), the ASL being the app's own
        (``chalicelib.journeys.timers.stepfunctions``). Its role may invoke journey_step
        and nothing else besides writing its logs and traces."""
        from chalicelib.journeys.timers.stepfunctions import state_machine_definition

        assert self.journey_step is not None
        step_arn = self.journey_step.function_arn  # a reference: created after the function
        log_group = logs.LogGroup(
            self, "JourneyTimerStateMachineLogs",
            log_group_name=f"/aws/vendedlogs/states/{self.state_machine_name}",
            retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY)
        machine = sfn.StateMachine(
            self, "JourneyTimerStateMachine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(
                json.dumps(state_machine_definition(step_arn), sort_keys=True)),
            tracing_enabled=True,
            # failures only, without the payload (tenant, member and enrolment ids); the
            # execution history (90 days) has every execution in full
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ERROR,
                                include_execution_data=False),
            comment=f"Enclave {self.stage}: journey timers (wait until due_at, run the step)",
        )
        machine.add_to_role_policy(iam.PolicyStatement(
            sid="InvokeJourneyStep",
            actions=["lambda:InvokeFunction"],
            resources=[step_arn],  # unqualified, as the definition invokes it
        ))
        return machine

    def _name_journey_scheduler(self, timers: str) -> None:
        """Names (and so ARNs, as plain strings) of the EventBridge Scheduler timers' group
        and role, fixed in advance like the state machine's: every function's environment
        carries them without referring to what refers to journey_step."""
        if timers not in TIMER_ADAPTERS:
            raise ValueError(f"timers must be one of {TIMER_ADAPTERS}, not {timers!r}")
        self.timers = timers
        self.schedule_group_name = f"{self.stack_name}-journey-timers"
        self.scheduler_role_name = f"{self.stack_name}-journey-scheduler"
        for name in (self.schedule_group_name, self.scheduler_role_name):
            if len(name) > 64:
                raise ValueError(f"name {name!r} is over 64 characters")
        self.scheduler_role_arn = self.format_arn(
            service="iam", region="", resource="role", resource_name=self.scheduler_role_name,
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME)
        self.journey_step_arn = self.format_arn(
            service="lambda", resource="function", resource_name=self.function_names[JOURNEY_STEP],
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)

    def _journey_scheduler(self) -> None:
        """The EventBridge Scheduler adapter's resources (deployed with either adapter, so
        switching ``timers`` leaves the other adapter's pending timers able to fire): a
        schedule group, the role the scheduler assumes (it may invoke journey_step, nothing
        else, for schedules of this group only), and the functions' right to create and
        delete schedules in that group only, passing that role only."""
        group = scheduler.CfnScheduleGroup(self, "JourneyScheduleGroup", name=self.schedule_group_name)
        group_arn = self.format_arn(service="scheduler", resource="schedule-group",
                                    resource_name=self.schedule_group_name,
                                    arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME)
        role = iam.Role(
            self, "JourneySchedulerRole", role_name=self.scheduler_role_name,
            description=f"Enclave {self.stage}: EventBridge Scheduler invokes journey_step for journey timers",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": self.account},
                "ArnLike": {"aws:SourceArn": group_arn}}))
        role.add_to_policy(iam.PolicyStatement(
            sid="InvokeJourneyStep", actions=["lambda:InvokeFunction"], resources=[self.journey_step_arn]))
        role.node.add_dependency(group)
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ScheduleJourneyTimers",
            actions=["scheduler:CreateSchedule", "scheduler:DeleteSchedule"],
            resources=[self.format_arn(service="scheduler", resource="schedule",
                                       resource_name=f"{self.schedule_group_name}/*",
                                       arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME)],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="PassJourneySchedulerRole", actions=["iam:PassRole"], resources=[self.scheduler_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        ))

    # -- the API ------------------------------------------------------------------------
    def _chalice_app(self, cors_origins: str, log_retention: logs.RetentionDays) -> Chalice:
        issuer = f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool.user_pool_id}"
        chalice = IsolatedChalice(
            self, "ChaliceApp",
            source_dir=str(PROJECT_DIR),
            stage_config={
                "api_gateway_stage": API_GATEWAY_STAGE,
                "manage_iam_role": False,
                "iam_role_arn": self.role.role_arn,
                "autogen_policy": False,
                "xray": True,
                "lambda_memory_size": DEFAULT_MEMORY,
                "lambda_timeout": DEFAULT_TIMEOUT,
                "environment_variables": {
                    "ENCLAVE_STAGE": self.stage,
                    "ENCLAVE_REGION": self.region,
                    "ENCLAVE_TABLE_NAME": self.table.table_name,
                    "ENCLAVE_CURSOR_SECRET_ARN": self.cursor_secret.secret_arn,
                    # every function: the API handler (sessions, webhooks), run_job
                    # (reconciliation, plan syncs) and whatever may call Stripe later
                    "ENCLAVE_STRIPE_SECRET_ARN": self.stripe_secret.secret_arn,
                    "ENCLAVE_JWT_ISSUER": issuer,
                    "ENCLAVE_JWT_AUDIENCE": self.user_pool_client.user_pool_client_id,
                    "ENCLAVE_JWKS_URL": f"{issuer}/.well-known/jwks.json",
                    "ENCLAVE_PLATFORM_ADMIN_GROUP": PLATFORM_ADMIN_GROUP,
                    "ENCLAVE_CORS_ALLOWED_ORIGINS": cors_origins,
                    "ENCLAVE_TRACING": "1",
                    "ENCLAVE_S3_BUCKET": self.transfers_bucket.bucket_name,
                    "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                    # a plain string, so run_job may carry its own name without a cycle
                    "ENCLAVE_JOB_DISPATCH": "lambda",
                    "ENCLAVE_JOB_FUNCTION": self.run_job_name,
                    # journeys: timers are Step Functions executions (the ARN is built
                    # from the fixed name: no reference, no cycle); the delivery settings
                    # come from the context (cdk_app.py). Inert if app.py has no journeys.
                    "ENCLAVE_TIMERS": self.timers,
                    "ENCLAVE_STATE_MACHINE_ARN": self.state_machine_arn,
                    # the cheaper adapter (context timers=scheduler): fixed names, no cycle
                    "ENCLAVE_SCHEDULE_GROUP": self.schedule_group_name,
                    "ENCLAVE_SCHEDULER_ROLE_ARN": self.scheduler_role_arn,
                    "ENCLAVE_JOURNEY_STEP_ARN": self.journey_step_arn,
                    **self.delivery_settings,
                },
            },
        )
        check_environment(chalice.packaged)
        # Chalice names the REST API after the app ("enclave") in every stage; a name per
        # stack keeps the ApiName metric dimension (and so the 5xx alarm) per stage.
        rest_api = chalice.get_resource("RestAPI")
        rest_api.add_property_override("Name", self.stack_name)
        self._gateway_responses(rest_api, cors_origins)
        self._throttling(rest_api)

        # Chalice's own ``log_retention_in_days`` emits a Fn::Sub to a logical id that it
        # renames (ApiHandler -> APIHandler) in packaged templates, so it is made here.
        log_group = logs.LogGroup(
            self, "ApiHandlerLogGroup",
            log_group_name=f"/aws/lambda/{chalice.get_resource('APIHandler').ref}",
            retention=log_retention,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # The API takes traffic only once the log group exists (else Lambda would create
        # it first and this resource would fail), and no function is created before its
        # role's policy is attached.
        rest_api.node.add_dependency(log_group)
        functions = {resource.node.id: resource  # CfnInclude: the logical id
                     for resource in chalice.sam_template.node.children
                     if isinstance(resource, cdk.CfnResource)
                     and resource.cfn_resource_type == "AWS::Serverless::Function"}
        self.has_journeys = check_functions(set(functions))
        run_job = functions[RUN_JOB]
        for logical_id, resource in functions.items():
            resource.node.add_dependency(self.role)
            if logical_id != RUN_JOB:  # nothing dispatches a job before run_job exists
                resource.node.add_dependency(run_job)
            settings = APP_FUNCTIONS.get(logical_id)
            if settings is not None:
                name = self.function_names[logical_id]
                resource.add_property_override("FunctionName", name)
                resource.add_property_override("Timeout", settings.timeout)
                resource.add_property_override("MemorySize", settings.memory)
                if logical_id == RUN_JOB:
                    resource.add_property_override("ReservedConcurrentExecutions", self.job_concurrency)
                # Named in advance, the log group comes first: the function cannot
                # run (its schedule cannot fire) before the group with its retention.
                resource.node.add_dependency(logs.LogGroup(
                    self, f"{logical_id}LogGroup", log_group_name=f"/aws/lambda/{name}",
                    retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY))
            elif logical_id != "APIHandler":  # a function added to app.py since
                logs.LogGroup(
                    self, f"{logical_id}LogGroup",
                    log_group_name=f"/aws/lambda/{resource.ref}",
                    retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY)
        lambda_.CfnEventInvokeConfig(
            self, "RunJobEventInvokeConfig",
            function_name=run_job.ref, qualifier="$LATEST",
            maximum_retry_attempts=RUN_JOB_RETRIES,
            # a job run whose retries all failed (or that waited 6 h for concurrency) is
            # recorded here and alarmed on; the job item stays open, so the sweeper retries it
            destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(
                    destination=self.job_failures.queue_arn)),
        )
        return chalice

    def _gateway_responses(self, rest_api: cdk.CfnResource, cors_origins: str) -> None:
        """API Gateway answers an unknown path, a wrong content type, throttling... itself,
        before the app: make those answers look like the app's (problem+json, CORS). Set
        on the SAM API (``GatewayResponses``), so they are part of its deployment."""
        headers = {name: f"'{value}'" for name, value in
                   {"Content-Type": problems.PROBLEM_CONTENT_TYPE, **gateway_cors_headers(cors_origins)}.items()}
        responses: dict[str, Any] = {}
        for response_type, status, code, title in GATEWAY_RESPONSES:
            responses[response_type] = {
                "ResponseParameters": {"Headers": headers},
                "ResponseTemplates": {"application/json": gateway_response_template(status, code, title)},
                **({"StatusCode": status} if status is not None else {}),
            }
        rest_api.add_property_override("GatewayResponses", responses)

    def _throttling(self, rest_api: cdk.CfnResource) -> None:
        """Stage-wide throttling on every method, and the usage plan that limits each API
        key associated with it (API Gateway answers 429 ``THROTTLED``/``QUOTA_EXCEEDED``)."""
        rest_api.add_property_override("MethodSettings", [{
            "ResourcePath": "/*", "HttpMethod": "*",
            "ThrottlingRateLimit": STAGE_THROTTLE["rate"], "ThrottlingBurstLimit": STAGE_THROTTLE["burst"],
        }])
        plan = apigateway.CfnUsagePlan(
            self, "TenantUsagePlan",
            usage_plan_name=f"{self.stack_name}-tenants",
            description=f"Enclave {self.stage}: per-API-key limits of tenant integrations",
            api_stages=[apigateway.CfnUsagePlan.ApiStageProperty(api_id=rest_api.ref, stage=API_GATEWAY_STAGE)],
            throttle=apigateway.CfnUsagePlan.ThrottleSettingsProperty(
                rate_limit=KEY_THROTTLE["rate"], burst_limit=int(KEY_THROTTLE["burst"])),
            quota=apigateway.CfnUsagePlan.QuotaSettingsProperty(limit=KEY_QUOTA_PER_DAY, period="DAY"),
        )
        # the stage SAM makes for the API (``<api><stage>Stage``) must exist before the plan names it
        plan.add_override("DependsOn", [f"RestAPI{API_GATEWAY_STAGE}Stage"])

    # -- alarms -------------------------------------------------------------------------
    def _alarm_on_any(self, construct_id: str, description: str,
                      metric: cloudwatch.IMetric) -> None:
        cloudwatch.Alarm(
            self, construct_id,
            alarm_description=f"Enclave {self.stage}: {description}",
            metric=metric, threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _alarms(self) -> None:
        five_minutes = cdk.Duration.minutes(5)
        cloudwatch.Alarm(
            self, "Api5xxAlarm",
            alarm_description=f"Enclave {self.stage}: the API answered with 5xx errors",
            metric=cloudwatch.Metric(
                namespace="AWS/ApiGateway", metric_name="5XXError",
                dimensions_map={"ApiName": self.stack_name, "Stage": API_GATEWAY_STAGE},
                statistic="Sum", period=five_minutes),
            threshold=5, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self._alarm_on_any(
            "ApiHandlerErrorsAlarm", "the API handler Lambda raised errors",
            self.api_handler.metric_errors(period=five_minutes, statistic="Sum"))
        self._alarm_on_any(
            "JobRunFailuresAlarm", ("a background job run failed every retry (or waited 6 h for "
                                    "run_job concurrency): see the JobRunFailures queue"),
            self.job_failures.metric_approximate_number_of_messages_visible(period=five_minutes, statistic="Maximum"))
        self._alarm_on_any(
            "RunJobErrorsAlarm", ("the run_job Lambda raised errors (a background job step "
                                  "failed or timed out)"),
            self.run_job.metric_errors(period=five_minutes, statistic="Sum"))
        if self.journey_step is not None and self.state_machine is not None:
            self._alarm_on_any(
                "JourneyStepErrorsAlarm", ("the journey_step Lambda raised errors (Step "
                                           "Functions retries them)"),
                self.journey_step.metric_errors(period=five_minutes, statistic="Sum"))
            # Stopped executions (an enrolment that ended early) are ExecutionsAborted,
            # not failures; a failed one is a timer whose step failed after every retry
            # (journey_sweeper re-arms it once it is 15 minutes overdue).
            self._alarm_on_any(
                "JourneyTimerFailedAlarm", ("journey timer executions failed (journey_step "
                                            "failed after every retry)"),
                self.state_machine.metric_failed(period=five_minutes, statistic="Sum"))
