"""The CDK stack (infra/), synthesized once per module: the table matches
``core.table.definition``, IAM is least-privilege, the Stripe secret is retained and read
by every function (and no function is pointed at stripe-mock), Cognito keeps tenant and
role out of the users' reach, the functions (API handler, run_job, journey_step, the
schedules) get their configuration, log groups and alarms, the journey timers' state
machine runs the app's own definition and may invoke journey_step only, nothing depends
on itself, and cfn-lint finds no error.

The journeys' tests skip when app.py defines no journey functions (the stack then has no
state machine); whether it does is read from app.py, not from the template."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core.table import definition

ROOT = Path(__file__).resolve().parents[2]
CORS_ORIGINS = "https://console.example.test"
#: the app's functions besides the API handler, by logical id, as deployed in stage dev
CORE_FUNCTIONS = {"RunJob": "enclave-dev-run_job", "Nightly": "enclave-dev-nightly",
                  "JobSweeper": "enclave-dev-job_sweeper",
                  "RenewalReminders": "enclave-dev-renewal_reminders",
                  "StripeReconciliation": "enclave-dev-stripe_reconciliation",
                  "TagExpiry": "enclave-dev-tag_expiry",
                  "OutboxSweeper": "enclave-dev-outbox_sweeper",
                  "PointsExpiry": "enclave-dev-points_expiry",
                  "WebhookDeliveries": "enclave-dev-webhook_deliveries",
                  "TaskExpiry": "enclave-dev-task_expiry"}
#: the journeys' functions (all of them or none in app.py)
JOURNEY_FUNCTIONS = {"JourneyStep": "enclave-dev-journey_step",
                     "JourneyTimers": "enclave-dev-journey_timers",
                     "JourneySweeper": "enclave-dev-journey_sweeper",
                     "JourneyTriggers": "enclave-dev-journey_triggers"}
RUN_JOB_NAME = CORE_FUNCTIONS["RunJob"]
STATE_MACHINE_NAME = "enclave-dev-journey-timers"
#: (timeout, memory) of the named functions besides run_job: the schedules that only start
#: (or re-dispatch) jobs, journey_step (one enrolment's steps), the journeys' schedules
TIMEOUTS = {"Nightly": 60, "JobSweeper": 60, "RenewalReminders": 60,
            "StripeReconciliation": 60, "JourneyStep": 60, "JourneyTimers": 60,
            "JourneySweeper": 60, "JourneyTriggers": 300, "TagExpiry": 300,
            "OutboxSweeper": 300, "PointsExpiry": 300, "WebhookDeliveries": 300, "TaskExpiry": 300}
#: the local stack's settings (stripe-mock, DynamoDB Local, SES/SNS mocks, webhooks to
#: loopback addresses) and the plain-text Stripe keys
FORBIDDEN_ENVIRONMENT = {"ENCLAVE_STRIPE_API_BASE", "ENCLAVE_STRIPE_STATELESS_MOCK",
                         "ENCLAVE_STRIPE_SECRET_KEY", "ENCLAVE_STRIPE_WEBHOOK_SECRET",
                         "ENCLAVE_DYNAMODB_ENDPOINT", "ENCLAVE_SES_ENDPOINT",
                         "ENCLAVE_SNS_ENDPOINT", "ENCLAVE_OUTBOUND_ALLOW_LOOPBACK",
                         "ENCLAVE_S3_ENDPOINT"}  # gofakes3
#: the context values of the synth, and what every function's environment gets from them
EMAIL_FROM = "Brand <news@brand.example>"
#: the stage's sender domains (context), besides EMAIL_FROM's
SENDER_DOMAINS = " Mail.Enclave.example,brand2.example"
JOURNEY_ENVIRONMENT = {"ENCLAVE_TIMERS": "stepfunctions", "ENCLAVE_EMAIL_FROM": EMAIL_FROM,
                       "ENCLAVE_SMS_TYPE": "Transactional", "ENCLAVE_SMS_SENDER_ID": ""}
LEFTOVERS = [ROOT / "chalice.out", ROOT / "cdk.out", ROOT / "infra" / "chalice.out",
             ROOT / "infra" / "cdk.out"]

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# jsii silences its Node end-of-life banner only for the major versions listed.
os.environ["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = ",".join(
    filter(None, [os.environ.get("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"), "18", "20"]))


def _app_has_journeys() -> bool:
    from app import app

    return any(f.name == "journey_step" for f in app.pure_lambda_functions)


class Synth:
    def __init__(self, template: dict[str, Any], outdir: Path, new_in_cwd: set[str],
                 new_leftovers: set[Path], environ_after: dict[str, str]) -> None:
        self.template = template
        self.outdir = outdir
        self.new_in_cwd = new_in_cwd
        self.new_leftovers = new_leftovers
        self.environ_after = environ_after
        self.journeys = _app_has_journeys()
        #: the functions deployed under fixed names, by logical id
        self.named = {**CORE_FUNCTIONS, **(JOURNEY_FUNCTIONS if self.journeys else {})}

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def one(self, kind: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(kind)
        assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
        return next(iter(found.items()))


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra.cdk_app import build

    existed = {p for p in LEFTOVERS if p.exists()}
    outdir = tmp_path_factory.mktemp("cdk.out")
    cwd_before = set(os.listdir("."))
    app = cdk.App(outdir=str(outdir), context={
        "stage": "dev", "cors_origins": CORS_ORIGINS, "email_from": EMAIL_FROM,
        "sms_type": "Transactional", "sender_domains": SENDER_DOMAINS})
    stack = build(app)
    template = Template.from_stack(stack).to_json()
    result = Synth(template, outdir, new_in_cwd=set(os.listdir(".")) - cwd_before,
                   new_leftovers={p for p in LEFTOVERS if p.exists()} - existed,
                   environ_after=dict(os.environ))
    try:
        yield result
    finally:
        for path in LEFTOVERS:
            if path.exists() and path not in existed:
                shutil.rmtree(path, ignore_errors=True)


def _ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def _arn(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _secret(synth: Synth, construct_id: str) -> tuple[str, dict[str, Any]]:
    """The Secrets Manager secret made by construct ``construct_id`` (CDK appends a hash)."""
    found = {k: v for k, v in synth.resources("AWS::SecretsManager::Secret").items()
             if re.fullmatch(construct_id + r"[0-9A-F]{8}", k)}
    assert len(found) == 1, (construct_id, sorted(found))
    return next(iter(found.items()))


def _render(value: Any) -> str:
    """A Fn::Join/Fn::Sub/Ref string as Fn::Sub text (``${RestAPI}``), to compare URLs."""
    if isinstance(value, str):
        return value
    (key, item), = value.items()
    if key == "Ref":
        return "${" + item + "}"
    if key == "Fn::Sub" and isinstance(item, str):
        return item
    if key == "Fn::Join" and item[0] == "":
        return "".join(_render(part) for part in item[1])
    raise AssertionError(f"cannot render {value!r}")


def _app_role(synth: Synth) -> str:
    """The logical id of the role every function runs as (CDK appends a hash)."""
    found = [k for k in synth.resources("AWS::IAM::Role") if re.fullmatch(r"ApiRole[0-9A-F]{8}", k)]
    assert len(found) == 1, found
    return found[0]


def _role_statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    """The statements of the policies attached to role ``role_id`` (CDK puts a role's
    statements in its DefaultPolicy; no role here has inline or managed policies)."""
    role = synth.template["Resources"][role_id]["Properties"]
    assert not role.get("Policies") and not role.get("ManagedPolicyArns"), role
    return [st for policy in synth.resources("AWS::IAM::Policy").values()
            if _ref(role_id) in policy["Properties"]["Roles"]
            for st in _as_list(policy["Properties"]["PolicyDocument"]["Statement"])]


def _statements(synth: Synth) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM statement in the template, with the logical id it comes from."""
    found = []
    for logical_id, res in synth.template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs = [props["PolicyDocument"]]
        elif res["Type"] == "AWS::IAM::Role":
            docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
        elif res["Type"] == "AWS::Serverless::Function":
            docs = [p for p in _as_list(props.get("Policies", [])) if isinstance(p, dict)
                    and "Statement" in p]
        else:
            continue
        for doc in docs:
            found += [(logical_id, s) for s in _as_list(doc["Statement"])]
    return found


# -- the table ---------------------------------------------------------------------------

def test_table_keys_and_indexes_come_from_the_definition(synth: Synth) -> None:
    _, table = synth.one("AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": definition.PK, "KeyType": "HASH"},
        {"AttributeName": definition.SK, "KeyType": "RANGE"},
    ]
    gsis = {g["IndexName"]: g for g in props["GlobalSecondaryIndexes"]}
    assert set(gsis) == set(definition.GSIS)
    for name, (hash_key, range_key) in definition.GSIS.items():
        assert gsis[name]["KeySchema"] == [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ]
        assert gsis[name]["Projection"] == {"ProjectionType": "ALL"}
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        definition.attribute_definitions(), key=lambda a: a["AttributeName"])
    assert "TableName" not in props  # CloudFormation names it; the Lambda is told


def test_table_is_production_grade(synth: Synth) -> None:
    _, table = synth.one("AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": definition.TTL_ATTRIBUTE, "Enabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


# -- IAM ---------------------------------------------------------------------------------

def test_no_wildcard_action_and_no_dynamodb_on_every_resource(synth: Synth) -> None:
    statements = _statements(synth)
    assert statements
    for logical_id, st in statements:
        actions = _as_list(st.get("Action", []))
        assert not any("*" in a for a in actions), (logical_id, st)  # no "*", "lambda:*"
        assert "NotAction" not in st and "NotResource" not in st, (logical_id, st)
        if any(a.lower().startswith("dynamodb:") for a in actions):
            assert not any(a.lower() == "dynamodb:*" for a in actions), (logical_id, st)
            assert "*" not in _as_list(st["Resource"]), (logical_id, st)
        if any(a.lower().startswith("secretsmanager:") for a in actions):
            assert "*" not in _as_list(st["Resource"]), (logical_id, st)


def test_every_function_runs_as_the_stack_role_which_reaches_the_table(synth: Synth) -> None:
    functions = synth.resources("AWS::Serverless::Function")
    assert "APIHandler" in functions
    assert not synth.resources("AWS::Lambda::Function")  # no CDK helper functions either
    role_id = _app_role(synth)
    # the functions' role, and the journey timers' state machine's and scheduler's
    assert len(synth.resources("AWS::IAM::Role")) == (3 if synth.journeys else 1)
    assert "DefaultRole" not in synth.template["Resources"]  # Chalice's generated role
    for name, fn in functions.items():
        assert fn["Properties"]["Role"] == _arn(role_id), name

    table_id, _ = synth.one("AWS::DynamoDB::Table")
    role_statements = _role_statements(synth, role_id)
    table_arn = _arn(table_id)
    index_arn = {"Fn::Join": ["", [table_arn, "/index/*"]]}
    data = [st for st in role_statements if "dynamodb:PutItem" in _as_list(st["Action"])]
    assert data, role_statements
    assert all(_as_list(st["Resource"]) == [table_arn, index_arn] for st in data)
    assert {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem",
            "dynamodb:ConditionCheckItem"} <= set(data[0]["Action"])



def test_the_role_reads_the_cursor_and_stripe_secrets_and_no_other(synth: Synth) -> None:
    cursor_id, _ = _secret(synth, "CursorSecret")
    stripe_id, _ = _secret(synth, "StripeSecret")
    assert len(synth.resources("AWS::SecretsManager::Secret")) == 2
    secret = [st for _, st in _statements(synth) if any(
        a.lower().startswith("secretsmanager:") for a in _as_list(st["Action"]))]
    assert secret
    read: list[Any] = []
    for st in secret:
        assert st["Effect"] == "Allow"
        assert set(_as_list(st["Action"])) <= {"secretsmanager:GetSecretValue",
                                               "secretsmanager:DescribeSecret"}, st
        assert "Condition" not in st, st
        read += _as_list(st["Resource"])
    # each secret by its own ARN (Ref), never a pattern or "*"
    assert sorted(json.dumps(r) for r in read) == sorted(
        json.dumps(_ref(i)) for i in (cursor_id, stripe_id))
    granted = {tuple(sorted(_as_list(st["Action"]))) for st in secret}
    assert granted == {("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue")}


def _invoking(synth: Synth) -> list[tuple[str, dict[str, Any]]]:
    return [(logical_id, st) for logical_id, st in _statements(synth)
            if any(a.lower().startswith("lambda:") for a in _as_list(st["Action"]))]


def test_the_role_may_invoke_run_job_and_nothing_else(synth: Synth) -> None:
    # the functions' role invokes run_job; the state machine's and the scheduler's, journey_step (below)
    assert len(_invoking(synth)) == (3 if synth.journeys else 1), _invoking(synth)
    invoking = [st for st in _role_statements(synth, _app_role(synth))
                if any(a.lower().startswith("lambda:") for a in _as_list(st["Action"]))]
    assert len(invoking) == 1, invoking
    st = invoking[0]
    assert st["Effect"] == "Allow"
    assert _as_list(st["Action"]) == ["lambda:InvokeFunction"]
    # built from the name (a reference to the function would be a cycle: the functions
    # depend on this policy), in this partition, region and account, and nothing else
    assert _as_list(st["Resource"]) == [{"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"}, ":lambda:", {"Ref": "AWS::Region"}, ":",
        {"Ref": "AWS::AccountId"}, f":function:{RUN_JOB_NAME}"]]}]
    assert synth.template["Resources"]["RunJob"]["Properties"]["FunctionName"] == RUN_JOB_NAME


# -- Cognito -----------------------------------------------------------------------------

def test_users_cannot_write_their_own_tenant_or_role(synth: Synth) -> None:
    _, client = synth.one("AWS::Cognito::UserPoolClient")
    props = client["Properties"]
    assert "custom:tenant_id" not in props["WriteAttributes"]
    assert "custom:role" not in props["WriteAttributes"]
    assert {"custom:tenant_id", "custom:role"} <= set(props["ReadAttributes"])
    assert props["GenerateSecret"] is False
    assert "ALLOW_USER_SRP_AUTH" in props["ExplicitAuthFlows"]


def test_user_pool_is_invitation_only_with_tenant_and_role_attributes(synth: Synth) -> None:
    pool_id, pool = synth.one("AWS::Cognito::UserPool")
    props = pool["Properties"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    custom = {a["Name"]: a for a in props["Schema"] if a.get("AttributeDataType") == "String"}
    for name in ("tenant_id", "role"):
        assert custom[name]["Mutable"] is True
    _, group = synth.one("AWS::Cognito::UserPoolGroup")
    assert group["Properties"]["GroupName"] == "platform-admin"
    assert group["Properties"]["UserPoolId"] == _ref(pool_id)


# -- the Lambda's configuration ----------------------------------------------------------

def test_api_handler_environment(synth: Synth) -> None:
    table_id, _ = synth.one("AWS::DynamoDB::Table")
    secret_id, _ = _secret(synth, "CursorSecret")
    stripe_id, _ = _secret(synth, "StripeSecret")
    pool_id, _ = synth.one("AWS::Cognito::UserPool")
    client_id, _ = synth.one("AWS::Cognito::UserPoolClient")
    props = synth.template["Resources"]["APIHandler"]["Properties"]
    env = props["Environment"]["Variables"]
    assert env["ENCLAVE_TABLE_NAME"] == _ref(table_id)
    assert env["ENCLAVE_CURSOR_SECRET_ARN"] == _ref(secret_id)
    assert env["ENCLAVE_STRIPE_SECRET_ARN"] == _ref(stripe_id)
    assert env["ENCLAVE_JWT_AUDIENCE"] == _ref(client_id)
    issuer = ["https://cognito-idp.", {"Ref": "AWS::Region"}, ".amazonaws.com/", _ref(pool_id)]
    assert env["ENCLAVE_JWT_ISSUER"] == {"Fn::Join": ["", issuer]}
    assert env["ENCLAVE_JWKS_URL"] == {"Fn::Join": ["", issuer + ["/.well-known/jwks.json"]]}
    assert env["ENCLAVE_PLATFORM_ADMIN_GROUP"] == "platform-admin"
    assert env["ENCLAVE_CORS_ALLOWED_ORIGINS"] == CORS_ORIGINS
    assert env["ENCLAVE_STAGE"] == "dev"
    assert env["ENCLAVE_REGION"] == {"Ref": "AWS::Region"}
    assert env["ENCLAVE_TRACING"] == "1"
    assert env["POWERTOOLS_SERVICE_NAME"] == "enclave"
    assert props["Tracing"] == "Active"
    assert props["Tags"]["aws-chalice"].endswith(":stage=dev:app=enclave")


def test_every_function_is_told_to_dispatch_jobs_to_run_job(synth: Synth) -> None:
    functions = synth.resources("AWS::Serverless::Function")
    assert {"APIHandler", *synth.named} <= set(functions)
    api_env = functions["APIHandler"]["Properties"]["Environment"]["Variables"]
    for name, fn in functions.items():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["ENCLAVE_JOB_DISPATCH"] == "lambda", name
        assert env["ENCLAVE_JOB_FUNCTION"] == RUN_JOB_NAME, name  # a plain string
        assert env == api_env, name  # the table, the secret, Cognito...: the same settings


# -- Stripe ------------------------------------------------------------------------------

def test_stripe_secret_is_retained_and_starts_as_placeholders(synth: Synth) -> None:
    _, secret = _secret(synth, "StripeSecret")
    assert secret["DeletionPolicy"] == "Retain"
    assert secret["UpdateReplacePolicy"] == "Retain"
    props = secret["Properties"]
    assert "SecretString" not in props  # no key in the template
    assert "Name" not in props  # retained: a fixed name would block re-creating the stack
    generated = props["GenerateSecretString"]
    # the key is an obvious placeholder; the webhook secret a random value, so an unfilled
    # secret verifies no signature anyone could compute
    assert json.loads(generated["SecretStringTemplate"]) == {"secret_key": "sk_test_replace_me"}
    assert generated["GenerateStringKey"] == "webhook_secret"
    assert generated["PasswordLength"] >= 32


def test_every_function_reads_stripe_keys_from_the_secret_not_from_stripe_mock(
        synth: Synth) -> None:
    stripe_id, _ = _secret(synth, "StripeSecret")
    functions = synth.resources("AWS::Serverless::Function")
    assert {"APIHandler", *synth.named} <= set(functions)
    for name, fn in functions.items():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["ENCLAVE_STRIPE_SECRET_ARN"] == _ref(stripe_id), name
        assert not {k.upper() for k in env} & FORBIDDEN_ENVIRONMENT, name
    assert "Globals" not in synth.template  # no environment shared some other way


def test_synth_refuses_stripe_mock_settings_on_deployed_functions() -> None:
    from infra.stack import FORBIDDEN_ENVIRONMENT as forbidden
    from infra.stack import check_environment

    assert forbidden == FORBIDDEN_ENVIRONMENT
    fine = {"Resources": {"APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {
        "Environment": {"Variables": {"ENCLAVE_STRIPE_SECRET_ARN": "arn"}}}}}}
    check_environment(fine)
    for key in (*FORBIDDEN_ENVIRONMENT, "enclave_stripe_api_base"):
        packaged = json.loads(json.dumps(fine))
        variables = packaged["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
        variables[key] = "x"
        with pytest.raises(ValueError, match=f"APIHandler: {key}"):
            check_environment(packaged)


def test_synth_refuses_the_dev_stacks_loopback_webhooks() -> None:
    """The dev stack lets tenant webhooks reach 127.0.0.1 (its receivers); in Lambda that is
    the runtime API, so the setting that allows it never reaches a deployed function."""
    from devstack.env import app_environment
    from infra.stack import check_environment
    from tests.conftest import ISSUER

    local = app_environment(dynamodb_port=1, table_name="t", issuer=ISSUER, secret="s")
    assert local["ENCLAVE_OUTBOUND_ALLOW_LOOPBACK"] == "1"
    packaged = {"Resources": {"JourneyStep": {"Type": "AWS::Serverless::Function", "Properties": {
        "Environment": {"Variables": {"ENCLAVE_OUTBOUND_ALLOW_LOOPBACK": "1"}}}}}}
    with pytest.raises(ValueError, match="JourneyStep: ENCLAVE_OUTBOUND_ALLOW_LOOPBACK"):
        check_environment(packaged)


def test_webhook_url_output_is_the_public_stripe_route(synth: Synth) -> None:
    from app import app

    outputs = synth.template["Outputs"]
    assert _render(outputs["StripeWebhookURL"]["Value"]) == (
        _render(outputs["EndpointURL"]["Value"]) + "webhooks/stripe")
    stripe_id, _ = _secret(synth, "StripeSecret")
    assert outputs["StripeSecretArn"]["Value"] == _ref(stripe_id)
    # the route exists and the gateway lets Stripe in: its signature is the credential
    route = app.routes["/webhooks/stripe"]["POST"]
    assert route.authorizer is None
    assert route.api_key_required is not True


def test_function_names_timeouts_and_memory(synth: Synth) -> None:
    resources = synth.template["Resources"]
    for logical_id, name in synth.named.items():
        assert resources[logical_id]["Properties"]["FunctionName"] == name
        assert resources[logical_id]["Properties"]["Tracing"] == "Active", logical_id
    run_job = resources["RunJob"]["Properties"]
    assert run_job["Handler"] == "app.run_job"
    assert (run_job["Timeout"], run_job["MemorySize"]) == (900, 1024)
    for logical_id in set(synth.named) - {"RunJob"}:
        props = resources[logical_id]["Properties"]
        assert (props["Timeout"], props["MemorySize"]) == (TIMEOUTS[logical_id], 512), logical_id
    if synth.journeys:
        assert resources["JourneyStep"]["Properties"]["Handler"] == "app.journey_step"
    api = resources["APIHandler"]["Properties"]
    assert (api["Timeout"], api["MemorySize"]) == (30, 512)
    assert "FunctionName" not in api  # unchanged: naming it would replace the function


def test_schedules(synth: Synth) -> None:
    # Chalice packages @app.schedule as a SAM Schedule event; the SAM transform (at
    # deploy time) turns it into an AWS::Events::Rule plus the Lambda permission.
    assert not synth.resources("AWS::Events::Rule")
    schedules = {
        logical_id: sorted((fn["Properties"]["Handler"], event["Properties"]["Schedule"])
                           for event in fn["Properties"].get("Events", {}).values()
                           if event["Type"] == "Schedule")
        for logical_id, fn in synth.resources("AWS::Serverless::Function").items()
    }
    assert {k: v for k, v in schedules.items() if v} == _app_schedules()
    assert ("app.nightly", "rate(1 day)") in schedules["Nightly"]
    assert ("app.points_expiry", "rate(1 hour)") in schedules["PointsExpiry"]
    assert ("app.webhook_deliveries", "rate(1 minute)") in schedules["WebhookDeliveries"]
    assert ("app.task_expiry", "rate(15 minutes)") in schedules["TaskExpiry"]


def _app_schedules() -> dict[str, list[tuple[str, str]]]:
    """Every @app.schedule of app.py, keyed the way Chalice names its function."""
    from chalice.app import ScheduledEventConfig

    from app import app

    expected: dict[str, list[tuple[str, str]]] = {}
    for source in app.event_sources:
        if isinstance(source, ScheduledEventConfig):
            expr = source.schedule_expression
            text = expr if isinstance(expr, str) else expr.to_string()
            logical_id = "".join(part.capitalize() for part in source.name.split("_"))
            expected.setdefault(logical_id, []).append((source.handler_string, text))
    return expected


def test_run_job_async_invokes_are_retried_twice_then_recorded_in_a_queue(synth: Synth) -> None:
    _, config = synth.one("AWS::Lambda::EventInvokeConfig")
    queue_id, queue = synth.one("AWS::SQS::Queue")
    assert config["Properties"] == {"FunctionName": _ref("RunJob"), "Qualifier": "$LATEST",
                                    "MaximumRetryAttempts": 2,
                                    "DestinationConfig": {"OnFailure": {"Destination": _arn(queue_id)}}}
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    # only that queue, only SendMessage (Lambda sends as the function's role)
    statements = [st for _, policy in synth.resources("AWS::IAM::Policy").items()
                  for st in policy["Properties"]["PolicyDocument"]["Statement"]
                  if any(a.startswith("sqs:") for a in ([st["Action"]] if isinstance(st["Action"], str)
                                                          else st["Action"]))]
    assert [(st["Action"], st["Resource"]) for st in statements] == [("sqs:SendMessage", _arn(queue_id))]
    alarms = [a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("Dimensions") == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id,
                                                                                                     "QueueName"]}}]]
    assert len(alarms) == 1 and alarms[0]["Threshold"] == 1


def test_fanned_out_job_runs_are_bounded_by_run_jobs_reserved_concurrency(synth: Synth) -> None:
    """The ranges of whole-tenant passes run on run_job in parallel, up to this bound (the
    API's concurrency is never taken by a fan-out)."""
    from infra.stack import JOB_CONCURRENCY

    assert synth.template["Resources"]["RunJob"]["Properties"]["ReservedConcurrentExecutions"] == JOB_CONCURRENCY
    assert JOB_CONCURRENCY >= 16  # at least one tenant's 16 ranges at once


def test_every_function_has_a_log_group_kept_30_days(synth: Synth) -> None:
    resources = synth.template["Resources"]
    groups = {json.dumps(g["Properties"]["LogGroupName"]): (logical_id, g)
              for logical_id, g in synth.resources("AWS::Logs::LogGroup").items()}
    for name, fn in synth.resources("AWS::Serverless::Function").items():
        if name in synth.named:
            # named in advance, so the group exists before the function can run
            group_id, group = groups[json.dumps(f"/aws/lambda/{synth.named[name]}")]
            assert group_id in fn["DependsOn"], name
        else:
            group_id, group = groups[json.dumps({"Fn::Join": ["", ["/aws/lambda/",
                                                                   _ref(name)]]})]
        assert group["Properties"]["RetentionInDays"] == 30, name
    # nothing can dispatch a job before run_job exists
    for name in synth.resources("AWS::Serverless::Function"):
        if name != "RunJob":
            assert "RunJob" in resources[name]["DependsOn"], name


def _references(value: Any) -> set[str]:
    """The logical ids that ``value`` refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item[0] if isinstance(item, list) else item.split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text, local = (item, {}) if isinstance(item, str) else (item[0], item[1])
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                found -= set(local)
                found |= _references(local)
            else:
                found |= _references(item)
    return found


def test_no_resource_depends_on_itself(synth: Synth) -> None:
    """CloudFormation rejects circular dependencies; cfn-lint does not see them through
    the SAM resources (checked: a GetAtt of RunJob in the role's policy passes it)."""
    resources = synth.template["Resources"]
    edges = {logical_id: (_references(res.get("Properties", {}))
                          | set(_as_list(res.get("DependsOn", [])))) & set(resources)
             for logical_id, res in resources.items()}
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("circular dependency: " + " -> ".join(
                path[path.index(node):] + [node]))
        if node in done:
            return
        for target in sorted(edges[node]):
            visit(target, path + [node])
        done.add(node)

    for logical_id in sorted(resources):
        visit(logical_id, [])
    policy_id, = (k for k, policy in synth.resources("AWS::IAM::Policy").items()
                  if _ref(_app_role(synth)) in policy["Properties"]["Roles"])
    assert {"RunJob", policy_id} <= edges["APIHandler"]  # the graph is the real one
    if synth.journeys:
        machine_id, _ = synth.one("AWS::StepFunctions::StateMachine")
        assert "JourneyStep" in edges[machine_id]
        # no function refers to the state machine (its ARN is a string built from its name)
        for name in synth.resources("AWS::Serverless::Function"):
            assert machine_id not in edges[name], name


def test_no_unresolved_token_is_left_in_the_template(synth: Synth) -> None:
    assert "${Token[" not in json.dumps(synth.template)


# -- journeys ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def journeys(synth: Synth) -> Synth:
    if not synth.journeys:
        pytest.skip("app.py defines no journey functions")
    return synth


def _state_machine_arn(resource: str = "stateMachine", name: str = STATE_MACHINE_NAME) -> Any:
    return {"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"}, ":states:", {"Ref": "AWS::Region"}, ":",
        {"Ref": "AWS::AccountId"}, f":{resource}:{name}"]]}


def _join_text(value: Any, placeholders: dict[str, str]) -> str:
    """A Fn::Join of strings and references as text, each reference replaced by its
    placeholder (keyed by its JSON)."""
    if isinstance(value, str):
        return value
    (key, item), = value.items()
    if key == "Fn::Join" and item[0] == "":
        return "".join(_join_text(part, placeholders) for part in item[1])
    return placeholders[json.dumps(value, sort_keys=True)]


def test_journeys_are_all_in_app_py_or_none_of_them(synth: Synth) -> None:
    functions = set(synth.resources("AWS::Serverless::Function"))
    assert (set(JOURNEY_FUNCTIONS) <= functions) is synth.journeys
    assert not (set(JOURNEY_FUNCTIONS) & functions) or synth.journeys
    assert bool(synth.resources("AWS::StepFunctions::StateMachine")) is synth.journeys


def test_synth_requires_the_app_functions_and_all_or_none_of_the_journeys() -> None:
    from infra.stack import APP_FUNCTIONS, check_functions

    assert set(APP_FUNCTIONS) == {*CORE_FUNCTIONS, *JOURNEY_FUNCTIONS}
    assert check_functions({"APIHandler", *CORE_FUNCTIONS, *JOURNEY_FUNCTIONS}) is True
    assert check_functions({"APIHandler", "TagExpiry", *CORE_FUNCTIONS}) is False
    for missing in ("RunJob", "JourneyStep", "JourneyTriggers"):
        with pytest.raises(RuntimeError, match=missing):
            check_functions({*CORE_FUNCTIONS, *JOURNEY_FUNCTIONS} - {missing})
    with pytest.raises(RuntimeError, match="Nightly"):
        check_functions(set(CORE_FUNCTIONS) - {"Nightly"})


def test_state_machine_runs_the_apps_definition_on_journey_step(journeys: Synth) -> None:
    from chalicelib.journeys.timers.stepfunctions import state_machine_definition

    _, machine = journeys.one("AWS::StepFunctions::StateMachine")
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["StateMachineName"] == STATE_MACHINE_NAME
    assert "Definition" not in props and "DefinitionS3Location" not in props
    step = "${JourneyStep.Arn}"
    text = _join_text(props["DefinitionString"],
                      {json.dumps(_arn("JourneyStep"), sort_keys=True): step})
    definition = json.loads(text)
    assert definition == state_machine_definition(step)
    # what the app relies on: a Wait on the timer's due_at, then one invoke of journey_step
    states = definition["States"]
    waits = [s for s in states.values() if s["Type"] == "Wait"]
    assert [w["TimestampPath"] for w in waits] == ["$.due_at"]
    tasks = [s for s in states.values() if s["Type"] == "Task"]
    assert [t["Parameters"]["FunctionName"] for t in tasks] == [step]
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ERROR", False)
    group_id = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"][
        "Fn::GetAtt"][0]
    group = journeys.template["Resources"][group_id]["Properties"]
    assert group == {"LogGroupName": f"/aws/vendedlogs/states/{STATE_MACHINE_NAME}",
                     "RetentionInDays": 30}
    assert journeys.template["Outputs"]["JourneyTimersStateMachineArn"]["Value"] == {
        "Ref": next(iter(journeys.resources("AWS::StepFunctions::StateMachine")))}


def test_state_machine_role_may_invoke_journey_step_only(journeys: Synth) -> None:
    _, machine = journeys.one("AWS::StepFunctions::StateMachine")
    role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    role = journeys.template["Resources"][role_id]["Properties"]
    trust, = role["AssumeRolePolicyDocument"]["Statement"]
    assert (trust["Action"], trust["Effect"], trust["Principal"]) == (
        "sts:AssumeRole", "Allow", {"Service": "states.amazonaws.com"})
    # only for state machines of this account (CDK's confused-deputy conditions)
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert trust["Condition"]["ArnLike"] == {"aws:SourceArn": _state_machine_arn(name="*")}
    statements = _role_statements(journeys, role_id)
    invoking = [st for st in statements if any(a.startswith("lambda:")
                                               for a in _as_list(st["Action"]))]
    assert len(invoking) == 1
    assert _as_list(invoking[0]["Action"]) == ["lambda:InvokeFunction"]
    assert _as_list(invoking[0]["Resource"]) == [_arn("JourneyStep")]  # unqualified
    # besides: its log delivery and X-Ray traces (actions with no resource-level permissions)
    others = {a for st in statements if st is not invoking[0] for a in _as_list(st["Action"])}
    assert {a.split(":")[0] for a in others} == {"logs", "xray"}, others
    assert all(st["Effect"] == "Allow" for st in statements)
    # and no other role may invoke journey_step
    for logical_id, st in _invoking(journeys):
        if logical_id not in (p for p, policy in journeys.resources("AWS::IAM::Policy").items()
                              if _ref(role_id) in policy["Properties"]["Roles"]):
            assert _arn("JourneyStep") not in _as_list(st["Resource"]), st


def test_every_function_gets_the_journey_settings(journeys: Synth) -> None:
    for name, fn in journeys.resources("AWS::Serverless::Function").items():
        env = fn["Properties"]["Environment"]["Variables"]
        assert {k: env.get(k) for k in JOURNEY_ENVIRONMENT} == JOURNEY_ENVIRONMENT, name
        # built from the fixed name: no reference to the state machine, so no cycle
        assert env["ENCLAVE_STATE_MACHINE_ARN"] == _state_machine_arn(), name


def test_the_role_starts_and_stops_journey_timers_of_its_state_machine_only(
        journeys: Synth) -> None:
    states = [(logical_id, st) for logical_id, st in _statements(journeys)
              if any(a.lower().startswith("states:") for a in _as_list(st["Action"]))]
    app_policy = {k for k, policy in journeys.resources("AWS::IAM::Policy").items()
                  if _ref(_app_role(journeys)) in policy["Properties"]["Roles"]}
    assert {logical_id for logical_id, _ in states} == app_policy
    granted = sorted((_as_list(st["Action"]), st["Effect"], _as_list(st["Resource"]),
                      "Condition" in st) for _, st in states)
    assert granted == [
        (["states:StartExecution"], "Allow", [_state_machine_arn()], False),
        (["states:StopExecution"], "Allow",
         [_state_machine_arn("execution", f"{STATE_MACHINE_NAME}:*")], False),
    ]


def test_the_role_sends_email_from_the_accounts_identities_and_sms_only(
        journeys: Synth) -> None:
    statements = _role_statements(journeys, _app_role(journeys))
    ses = [st for st in statements if any(a.startswith("ses:Send") for a in _as_list(st["Action"]))]
    assert len(ses) == 1 and ses[0]["Effect"] == "Allow"
    assert sorted(_as_list(ses[0]["Action"])) == ["ses:SendEmail", "ses:SendRawEmail"]
    assert _as_list(ses[0]["Resource"]) == [{"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"}, ":ses:", {"Ref": "AWS::Region"}, ":",
        {"Ref": "AWS::AccountId"}, ":identity/*"]]}]
    # only From the stage's sender domains (and email_from's): no tenant sends as another brand
    assert ses[0]["Condition"] == {"StringLike": {"ses:FromAddress": [
        "*@brand.example", "*@brand2.example", "*@mail.enclave.example"]}}
    verify = [st for st in statements if any(a.startswith("ses:") for a in _as_list(st["Action"]))
              and st not in ses]
    assert [(st["Effect"], sorted(_as_list(st["Action"])), st["Resource"]) for st in verify] == [
        ("Allow", ["ses:GetIdentityVerificationAttributes", "ses:VerifyDomainIdentity"], "*")]
    sns = [st for st in statements if any(a.startswith("sns:") for a in _as_list(st["Action"]))]
    # a Publish to a phone number has no ARN: allowed on "*", then every SNS ARN (topics,
    # mobile endpoints) denied, which leaves SMS
    assert sorted((st["Effect"], _as_list(st["Action"]), json.dumps(st["Resource"]))
                  for st in sns) == [
        ("Allow", ["sns:Publish"], json.dumps("*")),
        ("Deny", ["sns:Publish"], json.dumps({"Fn::Join": ["", [
            "arn:", {"Ref": "AWS::Partition"}, ":sns:*:*:*"]]})),
    ]
    # nothing else of the role uses "*" but the X-Ray writes, that SMS publish and the
    # sender domains' verification (actions without a resource)
    wildcard = sorted(a for st in statements if "*" in _as_list(st["Resource"])
                      for a in _as_list(st["Action"]))
    assert wildcard == ["ses:GetIdentityVerificationAttributes", "ses:VerifyDomainIdentity", "sns:Publish",
                        "xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def test_synth_checks_the_delivery_settings() -> None:
    from infra.stack import _delivery_settings

    assert _delivery_settings("", "Promotional", "") == {
        "ENCLAVE_EMAIL_FROM": "", "ENCLAVE_SMS_TYPE": "Promotional", "ENCLAVE_SMS_SENDER_ID": ""}
    assert _delivery_settings("a@b.example", "Transactional", "Brand1")["ENCLAVE_SMS_SENDER_ID"] \
        == "Brand1"
    for bad in (("brand.example", "Promotional", ""), ("", "promotional", ""),
                ("", "Promotional", "TooLongSender"), ("", "Promotional", "12345")):
        with pytest.raises(ValueError):
            _delivery_settings(*bad)


def test_synth_checks_the_sender_domains() -> None:
    from infra.stack import _sender_domains

    assert _sender_domains("", "") == []
    assert _sender_domains("B.example, a.example", "Brand <news@c.example>") == ["a.example", "b.example",
                                                                                 "c.example"]
    for bad in ("brand", "*.brand.example", "brand.example/x", "a@brand.example", "127.0.0.1"):
        with pytest.raises(ValueError, match="sender_domains"):
            _sender_domains(bad, "")


# -- alarms and outputs ------------------------------------------------------------------

def _function_dimension(logical_id: str) -> list[dict[str, Any]]:
    return [{"Name": "FunctionName", "Value": {"Fn::Select": [6, {"Fn::Split": [
        ":", _arn(logical_id)]}]}}]


def test_alarms_watch_api_5xx_and_function_errors(synth: Synth) -> None:
    alarms = [a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()]
    api_name = synth.template["Resources"]["RestAPI"]["Properties"]["Name"]
    api = [a for a in alarms if (a["Namespace"], a["MetricName"]) == ("AWS/ApiGateway",
                                                                       "5XXError")]
    assert len(api) == 1 and {"Name": "ApiName", "Value": api_name} in api[0]["Dimensions"]
    errors = [a for a in alarms if (a["Namespace"], a["MetricName"]) == ("AWS/Lambda",
                                                                          "Errors")]
    watched = sorted(json.dumps(a["Dimensions"]) for a in errors)
    watched_functions = ("APIHandler", "RunJob", *(("JourneyStep",) if synth.journeys else ()))
    assert watched == sorted(json.dumps(_function_dimension(f)) for f in watched_functions)
    for alarm in errors:
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1)
    failed = [a for a in alarms if a["Namespace"] == "AWS/States"]
    if synth.journeys:
        machine_id, _ = synth.one("AWS::StepFunctions::StateMachine")
        # aborted executions are timers stopped on purpose (an enrolment that ended early)
        assert [(a["MetricName"], a["Dimensions"], a["Statistic"], a["Threshold"])
                for a in failed] == [("ExecutionsFailed", [{"Name": "StateMachineArn",
                                                             "Value": _ref(machine_id)}],
                                      "Sum", 1)]
    else:
        assert not failed


def test_outputs(synth: Synth) -> None:
    outputs = synth.template["Outputs"]
    assert {"EndpointURL", "TableName", "UserPoolId", "UserPoolClientId", "StripeSecretArn",
            "StripeWebhookURL"} <= set(outputs)
    assert "/api/" in json.dumps(outputs["EndpointURL"]["Value"])


# -- hygiene and lint --------------------------------------------------------------------

def test_synth_leaves_the_process_and_the_repo_clean(synth: Synth) -> None:
    assert not synth.new_in_cwd  # no chalice.out/ or cdk.out/ where the tests run
    assert not synth.new_leftovers  # nor in the repository
    leaked = {k: v for k, v in synth.environ_after.items() if "${Token[" in v}
    assert not leaked  # Chalice packaging did not export the stage's variables to us
    assert list(synth.outdir.glob("*.template.json"))


def test_cfn_lint_finds_no_error(synth: Synth, tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(synth.template))
    done = subprocess.run(
        [sys.executable, "-c", "from cfnlint.runner import main; main()",
         "--non-zero-exit-code", "error", "--ignore-checks", "W3005", "--", str(path)],
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# -- API Gateway's own answers ---------------------------------------------------------------
def test_api_gateways_own_answers_are_problems_like_the_apps(synth: Synth) -> None:
    _, api = synth.one("AWS::Serverless::Api")
    responses = api["Properties"]["GatewayResponses"]
    expected = {"MISSING_AUTHENTICATION_TOKEN": ("404", "not_found"),
                "UNSUPPORTED_MEDIA_TYPE": ("415", "unsupported_media_type"),
                "DEFAULT_4XX": (None, "gateway_rejected"), "DEFAULT_5XX": (None, "gateway_error")}
    for response_type, (status, code) in expected.items():
        response = responses[response_type]
        assert response.get("StatusCode") == status, (response_type, response)
        headers = response["ResponseParameters"]["Headers"]
        assert headers["Content-Type"] == "'application/problem+json'"
        # the one configured console origin, with credentials; never an echo of any Origin
        assert headers["Access-Control-Allow-Origin"] == f"'{CORS_ORIGINS}'"
        assert headers["Access-Control-Allow-Credentials"] == "'true'"
        assert "method.request" not in json.dumps(headers)
        template = response["ResponseTemplates"]["application/json"]
        rendered = json.loads(template.replace("$context.error.messageString", '"Missing Authentication Token"')
                              .replace("$context.requestId", "req-1"))
        assert rendered["code"] == code and rendered["type"].endswith("/" + code)
        assert rendered.get("status") == (int(status) if status else None)


def test_gateway_responses_carry_no_cors_when_the_origin_cannot_be_named() -> None:
    from infra.stack import gateway_cors_headers

    assert gateway_cors_headers("") == {}
    assert gateway_cors_headers("https://a.example,https://b.example") == {}  # cannot pick per request
    assert gateway_cors_headers("*") == {}
    assert gateway_cors_headers(" https://a.example ")["Access-Control-Allow-Origin"] == "https://a.example"


# -- imports and exports: the transfers bucket (infra/transfers.py) ------------------------

def test_the_transfers_bucket_is_private_encrypted_tls_only_and_expires_its_objects(synth: Synth) -> None:
    bucket_id, bucket = synth.one("AWS::S3::Bucket")
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    (sse,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert bucket["DeletionPolicy"] == "Retain"
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["exports"]["TagFilters"] == [{"Key": "purpose", "Value": "export"}]
    assert rules["exports"]["ExpirationInDays"] == 7
    assert rules["import-errors"]["TagFilters"] == [{"Key": "purpose", "Value": "import-errors"}]
    assert rules["everything"]["Prefix"] == "tenants/" and rules["everything"]["ExpirationInDays"] == 30
    assert rules["everything"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    (cors,) = props["CorsConfiguration"]["CorsRules"]
    assert cors["AllowedOrigins"] == [CORS_ORIGINS] and set(cors["AllowedMethods"]) == {"PUT", "GET"}
    # TLS only: the bucket policy denies any request without SecureTransport
    (policy,) = synth.resources("AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == _ref(bucket_id)
    denies = [s for s in _as_list(policy["Properties"]["PolicyDocument"]["Statement"]) if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and s["Action"] == "s3:*"
               for s in denies), denies


def test_the_role_reaches_the_tenants_prefix_of_the_transfers_bucket_only(synth: Synth) -> None:
    bucket_id, _ = synth.one("AWS::S3::Bucket")
    s3_statements = [st for st in _role_statements(synth, _app_role(synth))
                     if any(a.startswith("s3:") for a in _as_list(st["Action"]))]
    objects = {"Fn::Join": ["", [_arn(bucket_id), "/tenants/*"]]}
    by_sid = {st["Sid"]: st for st in s3_statements}
    assert set(by_sid) == {"TransfersObjects", "TransfersList"}, s3_statements
    assert by_sid["TransfersObjects"]["Resource"] == objects
    assert set(_as_list(by_sid["TransfersObjects"]["Action"])) == {
        "s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"}
    assert by_sid["TransfersList"]["Resource"] == _arn(bucket_id)
    assert by_sid["TransfersList"]["Condition"] == {"StringLike": {"s3:prefix": ["tenants/*"]}}
    # AND every function is told the bucket, never a local S3 endpoint
    for logical_id, fn in synth.resources("AWS::Serverless::Function").items():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["ENCLAVE_S3_BUCKET"] == _ref(bucket_id), logical_id
        assert "ENCLAVE_S3_ENDPOINT" not in env, logical_id


# -- throttling (docs/decisions/0016-tenant-throttling-and-sale-day-caches.md) ---------------
def test_the_stage_and_each_tenant_api_key_are_throttled_by_api_gateway(synth: Synth) -> None:
    from infra.stack import KEY_THROTTLE, STAGE_THROTTLE

    _, api = synth.one("AWS::Serverless::Api")
    [everything] = api["Properties"]["MethodSettings"]
    assert (everything["ResourcePath"], everything["HttpMethod"]) == ("/*", "*")
    assert everything["ThrottlingRateLimit"] == STAGE_THROTTLE["rate"] > 0
    assert everything["ThrottlingBurstLimit"] == STAGE_THROTTLE["burst"] > 0
    logical_id, plan = synth.one("AWS::ApiGateway::UsagePlan")
    [stage] = plan["Properties"]["ApiStages"]
    assert stage == {"ApiId": {"Ref": "RestAPI"}, "Stage": "api"}
    assert plan["Properties"]["Throttle"] == {"RateLimit": KEY_THROTTLE["rate"], "BurstLimit": KEY_THROTTLE["burst"]}
    assert plan["Properties"]["Quota"]["Period"] == "DAY"
    assert "RestAPIapiStage" in synth.template["Resources"][logical_id]["DependsOn"]
    # a key's limit never exceeds the stage's
    assert KEY_THROTTLE["rate"] <= STAGE_THROTTLE["rate"] and KEY_THROTTLE["burst"] <= STAGE_THROTTLE["burst"]


# -- journey timers on EventBridge Scheduler (context timers=scheduler) -------------------------
SCHEDULE_GROUP = "enclave-dev-journey-timers"
SCHEDULER_ROLE = "enclave-dev-journey-scheduler"


def _account_arn(service: str, resource: str, region: bool = True) -> Any:
    middle: list[Any] = [f":{service}:", {"Ref": "AWS::Region"}, ":"] if region else [f":{service}::"]
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, *middle, {"Ref": "AWS::AccountId"},
                              f":{resource}"]]}


def test_scheduler_timers_have_a_group_and_a_role_that_invokes_journey_step_only(journeys: Synth) -> None:
    _, group = journeys.one("AWS::Scheduler::ScheduleGroup")
    assert group["Properties"]["Name"] == SCHEDULE_GROUP
    [(role_id, role)] = [(k, r) for k, r in journeys.resources("AWS::IAM::Role").items()
                         if r["Properties"].get("RoleName") == SCHEDULER_ROLE]
    trust, = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert (trust["Action"], trust["Effect"], trust["Principal"]) == (
        "sts:AssumeRole", "Allow", {"Service": "scheduler.amazonaws.com"})
    # only for schedules of this account's journey group (confused deputy)
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": _account_arn("scheduler", f"schedule-group/{SCHEDULE_GROUP}")}}
    statements = _role_statements(journeys, role_id)
    assert [(st["Effect"], _as_list(st["Action"]), _as_list(st["Resource"])) for st in statements] == [
        ("Allow", ["lambda:InvokeFunction"], [_account_arn("lambda", "function:enclave-dev-journey_step")])]


def test_the_role_creates_and_deletes_schedules_of_its_group_only_passing_the_scheduler_role(
        journeys: Synth) -> None:
    statements = _role_statements(journeys, _app_role(journeys))
    scheduling = [st for st in statements if any(a.startswith("scheduler:") for a in _as_list(st["Action"]))]
    assert [(st["Effect"], sorted(_as_list(st["Action"])), _as_list(st["Resource"])) for st in scheduling] == [
        ("Allow", ["scheduler:CreateSchedule", "scheduler:DeleteSchedule"],
         [_account_arn("scheduler", f"schedule/{SCHEDULE_GROUP}/*")])]
    passing = [st for st in statements if "iam:PassRole" in _as_list(st["Action"])]
    assert [(st["Effect"], _as_list(st["Resource"]), st["Condition"]) for st in passing] == [
        ("Allow", [_account_arn("iam", f"role/{SCHEDULER_ROLE}", region=False)],
         {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}})]
    for name, fn in journeys.resources("AWS::Serverless::Function").items():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["ENCLAVE_TIMERS"] == "stepfunctions", name  # the default adapter
        assert env["ENCLAVE_SCHEDULE_GROUP"] == SCHEDULE_GROUP, name
        assert env["ENCLAVE_SCHEDULER_ROLE_ARN"] == _account_arn("iam", f"role/{SCHEDULER_ROLE}", region=False)
        assert env["ENCLAVE_JOURNEY_STEP_ARN"] == _account_arn("lambda", "function:enclave-dev-journey_step")


def test_the_timers_context_names_a_known_adapter() -> None:
    import aws_cdk as cdk

    from infra.cdk_app import build

    with pytest.raises(ValueError, match="timers must be one of"):
        build(cdk.App(context={"stage": "dev", "timers": "cron"}))
