"""`airlock infra`: plan, apply, show or destroy an environment's AWS side with Terraform.

`output` prints the AIRLOCK_* settings the DAGs need (as `export` lines or JSON), computed from
the env's real Terraform outputs, so a deployment's configuration is never typed by hand.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path
from typing import Any

from airlock.infra.local import local_runner
from airlock.infra.outputs import outputs_to_env
from airlock.infra.runner import ENVS, InfraError, TerraformRunner

DEFAULT_LOCAL_ENDPOINT = "http://127.0.0.1:5000"

_EPILOG = """\
examples:
  airlock infra plan --env local --endpoint-url http://127.0.0.1:5000
  airlock infra apply --env local --endpoint-url http://127.0.0.1:5000
  eval "$(airlock infra output --env local)"        # export the AIRLOCK_* settings
  airlock infra output --env prod --format json --execution-target aws_ecs
  airlock infra validate                            # fmt -check + validate every module and env
  airlock infra destroy --env local --endpoint-url http://127.0.0.1:5000

Providers come from a filesystem mirror when one is found (AIRLOCK_TF_PLUGIN_DIR, else
~/.terraform.d/plugins and other usual places); otherwise from the registry.
"""


def register(subparsers: Any) -> None:
    """Add `infra` and its actions to the CLI."""
    parser = subparsers.add_parser(
        "infra",
        help="Provision the AWS side with Terraform and print the settings the DAGs read",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def env_action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--env", choices=ENVS, default="local", help="infra/terraform/envs/<env> (default: local)")
        sub.add_argument(
            "--endpoint-url",
            help=f"local AWS endpoint for --env local (default: {DEFAULT_LOCAL_ENDPOINT})",
        )
        sub.add_argument("--var-file", type=Path, help="a .tfvars file (prod: e.g. envs/prod/prod.tfvars)")
        sub.add_argument(
            "--backend-config", type=Path, help="prod only: S3 backend settings (see envs/prod/backend.hcl.example)"
        )
        sub.set_defaults(func=run)
        return sub

    env_action("plan", "Show what apply would change (exit 0 either way; 'changes pending' is printed)")
    env_action("apply", "Create or update the env's resources (no prompt)")
    out = env_action("output", "Print the AIRLOCK_* settings derived from the env's Terraform outputs")
    out.add_argument(
        "--format",
        choices=("shell", "json", "tfvars-json"),
        default="shell",
        help='export lines, a JSON object, or {"kit_env": ...} for envs/prod-saas',
    )
    out.add_argument(
        "--execution-target",
        choices=("local", "kubernetes", "aws_ecs"),
        help="also set AIRLOCK_EXECUTION_TARGET (MWAA: aws_ecs)",
    )
    env_action("destroy", "Delete the env's resources (no prompt)")
    check = actions.add_parser(
        "validate", help="terraform fmt -check and validate on every module and env (offline from the mirror)"
    )
    check.set_defaults(func=run_validate)
    test = actions.add_parser("test", help="terraform test (mock providers) in every module and env that has tests")
    test.set_defaults(func=run_tests)


def _runner(args: argparse.Namespace) -> TerraformRunner:
    """envs/local shares state with airlock.infra.apply_local (one state per endpoint); prod uses its backend."""
    if args.env == "local":
        if args.var_file or args.backend_config:
            raise InfraError("--var-file and --backend-config are for --env prod; local state lives in .airlock/.")
        return local_runner(args.endpoint_url or DEFAULT_LOCAL_ENDPOINT)
    if args.endpoint_url:
        raise InfraError("--endpoint-url only applies to --env local.")
    var_files = [args.var_file] if args.var_file else None
    return TerraformRunner.for_env(args.env, var_files=var_files)


def run(args: argparse.Namespace) -> int:
    """plan / apply / output / destroy one env."""
    runner = _runner(args)
    runner.init(backend_config_file=args.backend_config)
    if args.action == "plan":
        pending = runner.plan()
        print("==> changes pending" if pending else "==> no changes: infrastructure matches the configuration")
    elif args.action == "apply":
        runner.apply()
    elif args.action == "destroy":
        runner.destroy()
    elif args.action == "output":
        env = outputs_to_env(runner.output(), execution_target=args.execution_target)
        if args.format == "json":
            print(json.dumps(env, indent=2, sort_keys=True))
        elif args.format == "tfvars-json":
            kit_env = {k: v for k, v in env.items() if k.startswith("AIRLOCK_")}
            print(json.dumps({"kit_env": kit_env}, indent=2, sort_keys=True))
        else:
            for key, value in sorted(env.items()):
                print(f"export {key}={shlex.quote(value)}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    """fmt -check over infra/terraform, then init -backend=false + validate per stack; skips say why."""
    from airlock.infra.checks import check_all, stacks

    return 0 if check_all(stacks(), print, test=False) else 1


def run_tests(args: argparse.Namespace) -> int:
    """terraform test in every stack with a tests/ folder."""
    from airlock.infra.checks import check_all, stacks

    started = time.monotonic()
    ok = check_all(stacks(), print, validate=False)
    print(f"==> terraform test: {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f}s")
    return 0 if ok else 1
