"""CDK entry point: synthesizes the Enclave stack of one stage.

    cd infra && AWS_DEFAULT_REGION=us-east-1 ../.venv/bin/python cdk_app.py [-c stage=prod]
    npx aws-cdk@2 deploy --app "../.venv/bin/python cdk_app.py" -c stage=prod

Context: ``stage`` (default ``dev``; the stack's construct id and the Chalice stage),
``cors_origins`` (the console's origins, comma separated; default none), and the
journeys' delivery settings: ``email_from`` (the SES-verified sender for tenants without
their own; default none), ``sms_type`` (``Promotional``, the default, or
``Transactional``), ``sms_sender_id`` (default none) and ``sender_domains`` (comma
separated: the only domains email may be sent From, besides ``email_from``'s).
Not called ``app.py``: on ``sys.path`` that name would shadow the Chalice app module.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# jsii silences its Node end-of-life banner only for the major versions listed here.
_SILENCE = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"
os.environ[_SILENCE] = ",".join(filter(None, [os.environ.get(_SILENCE), "18", "20"]))

import aws_cdk as cdk  # noqa: E402

from infra.stack import JOB_CONCURRENCY, EnclaveStack  # noqa: E402

DEFAULT_STAGE = "dev"


def build(app: cdk.App) -> EnclaveStack:
    """The stack for the stage named in ``app``'s context."""
    context = app.node.try_get_context
    stage = context("stage") or DEFAULT_STAGE
    return EnclaveStack(app, stage, cors_origins=context("cors_origins") or "",
                        email_from=context("email_from") or "",
                        sms_type=context("sms_type") or "Promotional",
                        sms_sender_id=context("sms_sender_id") or "",
                        sender_domains=context("sender_domains") or "",
                        job_concurrency=int(context("job_concurrency") or JOB_CONCURRENCY),
                        timers=context("timers") or "stepfunctions")


def _context_from_argv(argv: list[str]) -> dict[str, str]:
    """``-c key=value`` pairs, for plain ``python cdk_app.py`` runs (the CDK CLI passes
    its own ``-c`` through the environment)."""
    context: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        if arg in ("-c", "--context"):
            key, _, value = next(args, "").partition("=")
            if not key or not _:
                raise SystemExit(f"expected {arg} key=value")
            context[key] = value
        else:
            raise SystemExit(f"unknown argument {arg!r}; usage: cdk_app.py [-c key=value ...]")
    return context


def main(argv: list[str]) -> None:
    options: dict = {"context": _context_from_argv(argv)}
    standalone = "CDK_OUTDIR" not in os.environ  # not run by the CDK CLI
    if standalone:
        options["outdir"] = str(Path(__file__).resolve().parent / "cdk.out")
    app = cdk.App(**options)
    stack = build(app)
    assembly = app.synth()
    if standalone:
        template = Path(assembly.directory) / stack.template_file
        print(f"synthesized stack {stack.stack_name} (stage {stack.stage}): {template}")


if __name__ == "__main__":
    main(sys.argv[1:])
