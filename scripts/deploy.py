#!/usr/bin/env python3
"""``make deploy``'s checks and questions, run before anything is installed, built or asked.

Standard library only (any python3 from 3.8 runs it: ``make deploy`` may run before the project's virtualenv exists).

``prepare``
    1. Checks, all of them, printing one line per missing thing and exiting 1 within seconds: the AWS region, AWS
       credentials (an STS ``GetCallerIdentity``), Python 3.13 for ``sam build`` and the SAM CLI (or that
       ``make deploy`` can install it).
    2. Asks what has no safe default (stack name, region, the CI360 gateway and tenant, the Twilio account SID),
       unless given as make variables (``STACK_NAME=``, ``REGION=``, ``CI360_GATEWAY_URL=``, ``CI360_TENANT_ID=``,
       ``TWILIO_ACCOUNT_SID=``) or saved by an earlier run; every template parameter keeps its default. Without a
       terminal it names the variables to pass instead of asking, and exits 2.
    3. Saves the answers to ``samconfig.toml``: stack name and region where ``sam deploy`` reads them, the CI360
       and Twilio values in ``[default.smsbridge.parameters]`` (a section SAM does not read), so a retry asks
       nothing.
``saved``
    Prints the saved stack name and region (``sam deploy`` and ``sam list stack-outputs`` take them).
``next-steps``
    Prints the commands that fill the stack's secrets and point Twilio at it, with the saved answers filled in.

Credentials are checked with the first of: the project's ``.venv`` Python (it has botocore), the SAM CLI's Python
(``.venv-tools``), this python3 if it can import botocore, the ``aws`` CLI. Each honours ``AWS_PROFILE``,
``~/.aws`` and ``AWS_ENDPOINT_URL_STS``. With none of them, the check is skipped and the line says so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SAMCONFIG = Path("samconfig.toml")
DEPLOY_SECTION = "default.deploy.parameters"
ANSWERS_SECTION = "default.smsbridge.parameters"
STS_TIMEOUT_SECONDS = 20  # the whole credentials check; botocore's own connect and read timeouts are shorter

# (saved key, make variable, question, example). Asked in this order; each answer is checked by ``_problem``.
QUESTIONS = (
    ("stack_name", "STACK_NAME", "CloudFormation stack name", "smsbridge"),
    ("region", "REGION", "AWS region", "us-east-1"),
    (
        "ci360_gateway_url",
        "CI360_GATEWAY_URL",
        "CI360 external gateway address",
        "https://extapigwservice-prod.ci360.sas.com",
    ),
    ("ci360_tenant_id", "CI360_TENANT_ID", "CI360 tenant ID", "from CI360: General Settings, External Access"),
    ("twilio_account_sid", "TWILIO_ACCOUNT_SID", "Twilio account SID", "AC and 32 hex digits, from the Twilio console"),
)
_SECTION_OF = {"stack_name": DEPLOY_SECTION, "region": DEPLOY_SECTION}
DEFAULTS = {"stack_name": "smsbridge"}  # offered at the prompt (Enter takes it), never taken without asking

# Run by the Python that has botocore: prints the account, or one line saying what is wrong (exit 1).
_STS_CHECK = r"""
import sys
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
region = sys.argv[1] or None
session = botocore.session.get_session()
try:
    sts = session.create_client("sts", region_name=region or session.get_config_variable("region") or "us-east-1",
        config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1}))
    print(sts.get_caller_identity()["Account"])
except NoCredentialsError:
    print("none"); sys.exit(1)
except ClientError as error:
    print("refused: " + error.response.get("Error", {}).get("Code", "")); sys.exit(1)
except BotoCoreError as error:
    print("unreachable: " + str(error)); sys.exit(1)
"""


def read_samconfig(path: Path = SAMCONFIG) -> dict[str, dict[str, object]]:
    """The sections of a samconfig.toml as SAM writes it (``[a.b.c]`` headers, ``key = value`` lines)."""
    sections: dict[str, dict[str, object]] = {}
    current = ""
    if not path.is_file():
        return sections
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        header = re.fullmatch(r"\[([^\]]+)\]", stripped)
        if header:
            current = header.group(1).strip()
            sections.setdefault(current, {})
        elif "=" in stripped and not stripped.startswith("#"):
            key, _, value = stripped.partition("=")
            sections.setdefault(current, {})[key.strip()] = _toml_value(value.strip())
    return sections


def _toml_value(text: str) -> object:
    if text in ("true", "false"):
        return text == "true"
    try:
        return json.loads(text)  # a basic TOML string or a number reads as JSON
    except ValueError:
        return text


def save_samconfig(values: dict[str, tuple[str, str]], path: Path = SAMCONFIG) -> None:
    """Set ``key = "value"`` in each named section (``values``: key → (section, value)), keeping every other line."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else ["version = 0.1"]
    for key, (section, value) in values.items():
        setting = f"{key} = {json.dumps(value)}"
        start = next((i for i, line in enumerate(lines) if line.strip() == f"[{section}]"), None)
        if start is None:
            lines += ["", f"[{section}]", setting]
            continue
        end = next((i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("[")), len(lines))
        found = next((i for i in range(start + 1, end) if lines[i].split("=")[0].strip() == key), None)
        if found is not None:
            lines[found] = setting
        else:
            last = max((i for i in range(start, end) if lines[i].strip()), default=start)
            lines.insert(last + 1, setting)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def saved_answers(path: Path = SAMCONFIG) -> dict[str, str]:
    """What an earlier ``make deploy`` saved (only the answered keys; the global stack name is not an answer)."""
    config = read_samconfig(path)
    answers = {}
    for key, *_ in QUESTIONS:
        value = config.get(_SECTION_OF.get(key, ANSWERS_SECTION), {}).get(key)
        if isinstance(value, str) and value and not _problem(key, value):
            answers[key] = value
    return answers


def _problem(key: str, value: str) -> str | None:  # noqa: PLR0911 - one rule per answer
    """Why ``value`` cannot be the answer to ``key`` (None when it can)."""
    if not value.isascii() or not value.isprintable() or not value.strip():
        return "give the value itself (plain ASCII), not a placeholder"
    if key == "stack_name" and not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", value):
        return "a stack name is letters, digits and hyphens, starting with a letter"
    if key == "region" and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", value):
        return "a region looks like us-east-1"
    if key == "ci360_gateway_url" and not re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d+)?/?", value):
        return "the gateway is an https address such as https://extapigwservice-prod.ci360.sas.com"
    if key == "ci360_tenant_id" and not re.fullmatch(r"[A-Za-z0-9_-]{4,64}", value):
        return "a tenant ID is letters, digits, - and _ (CI360: General Settings, External Access)"
    if key == "twilio_account_sid" and not re.fullmatch(r"AC[0-9a-f]{32}", value):
        return "an account SID is AC and 32 hex digits (Twilio console)"
    return None


def region_given(saved: dict[str, str]) -> str:
    """The region a deploy uses: REGION=, the saved answer, AWS_REGION, AWS_DEFAULT_REGION (in that order)."""
    for value in (os.environ.get("REGION"), saved.get("region"), os.environ.get("AWS_REGION"),
                  os.environ.get("AWS_DEFAULT_REGION")):  # fmt: skip
        if value:
            return value
    return ""


def credentials_checker() -> list[str] | None:
    """The command that checks credentials (the script's last argument is the region), or None if none can."""
    for python in (Path(".venv/bin/python"), Path(".venv-tools/bin/python")):
        if python.is_file() and os.access(python, os.X_OK):
            return [str(python), "-c", _STS_CHECK]
    try:
        import botocore  # noqa: F401, PLC0415 - only whether it is there
    except ImportError:
        pass
    else:
        return [sys.executable, "-c", _STS_CHECK]
    aws = shutil.which("aws")
    version = [aws, "--version"] if aws else []
    if version and subprocess.run(version, capture_output=True, check=False, timeout=10).returncode == 0:  # noqa: S603
        return [str(aws), "sts", "get-caller-identity", "--query", "Account", "--output", "text", "--region"]
    return None


def check_credentials(region: str) -> str | None:
    """None when STS answers with an account; else the one line saying what is wrong with the credentials."""
    checker = credentials_checker()
    if checker is None:
        return None
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command of this script
            [*checker, region or "us-east-1"] if checker[-1] == "--region" else [*checker, region],
            capture_output=True, text=True, check=False, timeout=STS_TIMEOUT_SECONDS,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"AWS credentials: STS did not answer within {STS_TIMEOUT_SECONDS} s (network, proxy or firewall?)"
    if done.returncode == 0:
        return None
    said = (done.stdout.strip() or done.stderr.strip()).splitlines()[-1:] or ["no answer"]
    if said[0] == "none" or "Unable to locate credentials" in said[0]:
        return (
            "no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
            "or run `aws configure` / `aws sso login`"
        )
    return f"AWS credentials do not work (STS GetCallerIdentity: {said[0][:200]}): renew them or set AWS_PROFILE"


def check_python313(python313: str, missing: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command of this script
            [python313, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 13))"],
            capture_output=True, check=False, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return missing
    return None if done.returncode == 0 else missing


def check_sam(sam: str) -> tuple[str | None, str | None]:
    """(problem, note): the SAM CLI is there, or make deploy can install it (a note), or it cannot (a problem)."""
    if Path(sam).is_file() and os.access(sam, os.X_OK):
        return None, None
    try:
        import ensurepip  # noqa: F401, PLC0415
        import venv  # noqa: F401, PLC0415
    except ImportError:
        return f"no SAM CLI at {sam}, and {sys.executable} cannot make a virtualenv to install it (python3-venv)", None
    return None, "the SAM CLI is not installed yet: make deploy installs it into .venv-tools after the questions"


def preflight(args: argparse.Namespace, saved: dict[str, str], interactive: bool) -> list[str]:
    """Every missing thing, one line each (an empty list: go on)."""
    problems = []
    region = region_given(saved)
    if not region and not interactive:
        problems.append("no AWS region: pass REGION=us-east-1 (or set AWS_REGION or AWS_DEFAULT_REGION)")
    elif region and _problem("region", region):
        problems.append(f"AWS region {region!r}: {_problem('region', region)}")
    credentials = check_credentials(region)
    if credentials:
        problems.append(credentials)
    python313 = check_python313(args.python313, args.python313_missing)
    if python313:
        problems.append(python313)
    sam, note = check_sam(args.sam)
    if sam:
        problems.append(sam)
    if note and not problems:
        print(f"make deploy: {note}")
    return problems


def ask(saved: dict[str, str], interactive: bool, again: bool) -> tuple[dict[str, str], list[str]]:
    """Every answer: a make variable, else the saved one (unless ``again``), else asked on the terminal (the saved
    one, or the region in the environment, as its default); without a terminal the region in the environment is
    taken. Returns the answers and one line per value that is missing (no terminal) or unusable."""
    answers: dict[str, str] = {}
    problems = []
    for key, variable, question, example in QUESTIONS:
        environment = region_given({}) if key == "region" else ""
        value = os.environ.get(variable, "").strip() or ("" if again else saved.get(key, ""))
        if value and _problem(key, value):
            problems.append(f"{variable}={value!r}: {_problem(key, value)}")
            continue
        if not value and interactive:
            value = _prompt(key, question, example, saved.get(key) or environment or DEFAULTS.get(key, ""))
        value = value or environment
        if value:
            answers[key] = value
        elif key != "region":  # a missing region is the checks' line already
            problems.append(f"no terminal to ask on: pass {variable}=  ({question}: {example})")
    return answers, problems


def _prompt(key: str, question: str, example: str, default: str) -> str:
    while True:
        shown = f" [{default}]" if default else f" ({example})"
        try:
            value = input(f"{question}{shown}: ").strip() or default
        except EOFError:
            raise SystemExit(2) from None
        problem = _problem(key, value) if value else "an answer is needed"
        if not problem:
            return value
        print(f"  {problem}")


def prepare(args: argparse.Namespace) -> int:
    saved = saved_answers()
    interactive = sys.stdin.isatty() and not os.environ.get("CI")
    problems = preflight(args, saved, interactive)
    answers: dict[str, str] = {}
    if not interactive or not problems:  # without a terminal, what to pass is said with the checks, all at once
        answers, missing = ask(saved, interactive, args.ask_again)
        problems += missing
    if problems:
        for problem in problems:
            print(f"make deploy: {problem}", file=sys.stderr)
        given = {key for key, variable, *_ in QUESTIONS if key in answers and os.environ.get(variable)}
        _save({key: answers[key] for key in given})  # what was passed is not asked for again
        print(
            "make deploy: stopped before installing, asking or deploying anything"
            + (f" ({', '.join(sorted(given))} saved in samconfig.toml)" if given else ""),
            file=sys.stderr,
        )
        return 1
    _save(answers)
    print(f"make deploy: stack {answers['stack_name']} in {answers['region']} (saved in samconfig.toml)")
    return 0


def _save(answers: dict[str, str]) -> None:
    if answers:
        save_samconfig({key: (_SECTION_OF.get(key, ANSWERS_SECTION), value) for key, value in answers.items()})


def print_saved() -> int:
    saved = saved_answers()
    if "stack_name" not in saved or "region" not in saved:
        print("make deploy: no stack name and region saved in samconfig.toml", file=sys.stderr)
        return 1
    print(saved["stack_name"], saved["region"])
    return 0


def next_steps() -> int:
    """The commands that finish the set-up, the saved answers filled in (secrets come from the environment)."""
    saved = saved_answers()
    stack, region = saved.get("stack_name", "smsbridge"), saved.get("region", "us-east-1")

    def output(name: str) -> str:
        query = f"Stacks[0].Outputs[?OutputKey=='{name}'].OutputValue"
        describe = f"aws cloudformation describe-stacks --region {region} --stack-name {stack}"
        return f'"$({describe} --query "{query}" --output text)"'

    ci360 = (
        f'{{\\"gateway_url\\": \\"{saved.get("ci360_gateway_url", "")}\\", '
        f'\\"tenant_id\\": \\"{saved.get("ci360_tenant_id", "")}\\", \\"client_secret\\": \\"$CI360_CLIENT_SECRET\\"}}'
    )
    print(
        "Next: fill the secrets, then point Twilio at the webhooks (TWILIO_AUTH_TOKEN, CI360_CLIENT_SECRET and "
        "TWILIO_PHONE_NUMBER from your shell):",
        f"  aws secretsmanager put-secret-value --region {region} --secret-id {output('AuthTokensSecret')} "
        '--secret-string "{\\"default\\": [\\"$TWILIO_AUTH_TOKEN\\"]}"',
        f"  aws secretsmanager put-secret-value --region {region} --secret-id {output('Ci360Secret')} "
        f'--secret-string "{ci360}"',
        f"  .venv/bin/smsbridge twilio configure --stack {stack} --region {region} "
        f'--account-sid {saved.get("twilio_account_sid", "")} --phone "$TWILIO_PHONE_NUMBER" --dry-run',
        f"Remove the stack with: .venv-tools/bin/sam delete --stack-name {stack} --region {region}",
        sep="\n",
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/deploy.py", description=__doc__.split("\n\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    prepare_step = steps.add_parser("prepare", help="check, then ask what has no safe default, and save it")
    prepare_step.add_argument("--sam", required=True, help="the SAM CLI make deploy runs")
    prepare_step.add_argument("--python313", required=True, help="the python3.13 sam build uses")
    prepare_step.add_argument("--python313-missing", default="no Python 3.13 for sam build", help="the line to print")
    prepare_step.add_argument("--ask-again", action="store_true", help="ask again, the saved answers as defaults")
    steps.add_parser("saved", help="print the saved stack name and region")
    steps.add_parser("next-steps", help="print the commands that finish the set-up")
    args = parser.parse_args(argv)
    if args.step == "prepare":
        return prepare(args)
    return print_saved() if args.step == "saved" else next_steps()


if __name__ == "__main__":
    sys.exit(main())
