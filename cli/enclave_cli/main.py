"""``enclave``: log in, import members and orders, export segments, watch jobs, tail
webhook deliveries. It talks to the API over HTTP only (never imports the app).

Exit codes: 0 done; 1 the API refused or failed, or could not be reached; 2 bad usage;
3 partly done (some rows or items failed: see the error report); 4 not logged in, or the
key is invalid or lacks the permission.
"""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape

from . import __version__, config
from .api import Api
from .context import State, out, state
from .transfers import export_group, import_group
from .watch import events_group, jobs_group

EPILOG = """\b
Exit codes:
  0  done
  1  the API refused or failed, or could not be reached
  2  bad usage
  3  partly done: some rows or items failed (see the error report)
  4  not logged in, or the key is invalid or lacks the permission"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Config file (default: $ENCLAVE_CONFIG or ~/.config/enclave/config.json).")
@click.version_option(__version__, prog_name="enclave")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None) -> None:
    """Command line client of the Enclave API."""
    ctx.obj = State(config.config_path(config_file))


@cli.command()
@click.option("--api-key", help="A tenant API key (ek_live_... / ek_test_...).")
@click.option("--url", help="The API's base URL, e.g. https://api.example.com/api.")
@click.option("--dev", is_flag=True, help="Use the local stack's demo key (.local/dev.json of `make run`).")
@click.option("--dev-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The dev.json to read (default: .local/dev.json of this checkout).")
def login(api_key: str | None, url: str | None, dev: bool, dev_file: Path | None) -> None:
    """Check a credential against the API and keep it (file mode 0600)."""
    if dev == bool(api_key):
        raise click.UsageError("give either --api-key KEY --url URL, or --dev")
    if dev:
        if url:
            raise click.UsageError("--url comes from dev.json with --dev")
        found = dev_file or config.find_dev_json(Path.cwd())
        if found is None:
            raise click.UsageError("no .local/dev.json here or above: start the stack with `make run`, "
                                   "or pass --dev-file")
        creds = config.from_dev_json(found)
    else:
        if not url:
            raise click.UsageError("--url is required with --api-key")
        creds = config.Config(url=url.rstrip("/"), api_key=str(api_key))
    tenant = Api(creds.url, creds.api_key).get("/v1/tenant")  # a bad key ends here with exit 4
    path = state().config_path
    config.save(path, creds)
    out().print(f"Logged in to {escape(creds.url)} as tenant {escape(tenant['name'])} ({tenant['id']}); "
                f"saved to {path}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def whoami(as_json: bool) -> None:
    """The API, tenant and key the CLI acts as."""
    current = state().config()
    tenant = Api(current.url, current.api_key).get("/v1/tenant")
    facts = {"url": current.url, "tenant_id": tenant["id"], "tenant_name": tenant["name"],
             "livemode": tenant.get("livemode", True), "api_key": config.masked(current.api_key),
             "source": current.source}
    if as_json:
        click.echo(json.dumps(facts, indent=2, ensure_ascii=False))
        return
    console = out()
    for name, value in facts.items():
        console.print(f"{name:<12} {escape(str(value))}")


cli.add_command(import_group)
cli.add_command(export_group)
cli.add_command(jobs_group)
cli.add_command(events_group)


def main() -> None:
    """The console script: click prints a CliError as ``Error: ...`` and exits with its code."""
    cli(prog_name="enclave")
