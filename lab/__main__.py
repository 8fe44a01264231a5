"""``python -m lab up|verify|down|inspect|exec``: see ``docs/lab.md``.

python -m lab up      --stack-file PATH [--workdir DIR] [--hosts ssh] [--keep-on-failure] [-v]
python -m lab verify  (--stack-file PATH | --workdir DIR) [--faults] [--json]
python -m lab down    (--stack-file PATH | --workdir DIR)
python -m lab inspect (--stack-file PATH | --workdir DIR) [--json] [--expect-empty]   # hosts mode
python -m lab exec    (--stack-file PATH | --workdir DIR) --host NAME -- COMMAND...   # hosts mode
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from lab.faults import run_faults
from lab.inspection import exec_on_host, inspect_hosts, not_empty
from lab.plan import StackUnusable
from lab.report import hosts_lines, inspect_lines, summary, timings_lines
from lab.run import Lab, default_workdir, up
from lab.shell import LabError
from lab.state import LabState
from lab.teardown import down


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _logging(workdir: Path, verbose: bool) -> None:
    logger = logging.getLogger("lab")
    logger.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.addHandler(console)
    workdir.mkdir(parents=True, exist_ok=True)
    logfile = logging.FileHandler(workdir / "lab.log")
    logfile.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logfile.setLevel(logging.DEBUG)
    logger.addHandler(logfile)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lab",
        description="BGP lab in network namespaces from a stack file",
        epilog="exec: python -m lab exec --workdir DIR --host router -- vtysh -c 'show bgp summary'",
    )
    parser.add_argument("command", choices=("up", "verify", "down", "inspect", "exec"))
    parser.add_argument("--stack-file", type=Path, help="a Pulumi.<stack>.yaml file (required by up)")
    parser.add_argument(
        "--workdir", type=Path, help="state, configs, logs and timings (default: /tmp/cilium-bgp-lab-<stack>)"
    )
    parser.add_argument(
        "--hosts",
        choices=("daemons", "ssh"),
        default="daemons",
        help="up: 'daemons' (default) runs the daemons; 'ssh' makes the routers and nodes SSH hosts for the program",
    )
    parser.add_argument("--host", help="exec: the host to run the command on (a router, a node, or the client)")
    parser.add_argument("--faults", action="store_true", help="verify: also run the fault cases")
    parser.add_argument("--json", action="store_true", help="verify, inspect: print the full report as JSON")
    parser.add_argument(
        "--expect-empty",
        action="store_true",
        help="inspect: exit 1 unless no host has a program file or a routing daemon (after pulumi destroy)",
    )
    parser.add_argument("--keep-on-failure", action="store_true", help="up: leave a failed lab for inspection")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command to stderr")
    return parser


def _hosts_state(workdir: Path) -> LabState:
    """The recorded hosts-mode lab (``inspect`` and ``exec`` need no stack file, only the state)."""
    state = LabState.load(workdir)
    if state is None:
        raise LabError(f"no lab in {workdir} (nothing recorded): run `python -m lab up --hosts ssh` first")
    if state.mode != "hosts":
        raise LabError(f"lab {state.lab_id} runs its own daemons: inspect and exec are for `up --hosts ssh` labs")
    return state


def _inspect(workdir: Path, as_json: bool, expect_empty: bool) -> int:
    report = inspect_hosts(_hosts_state(workdir))
    problems = not_empty(report) if expect_empty else []
    print(json.dumps(report, indent=2, sort_keys=True) if as_json else "\n".join(inspect_lines(report)))
    for problem in problems:
        print(f"not empty: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _exec(workdir: Path, host: str | None, command: list[str]) -> int:
    if not host:
        raise LabError("exec needs --host NAME (a router, a node, or client)")
    return exec_on_host(_hosts_state(workdir), host, command)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # exec: everything after the first "--" is the command, options included.
    command = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = _parser()
    args = parser.parse_args(argv)
    if args.stack_file is None and (args.command == "up" or args.workdir is None):
        late = " (options go before '--': everything after it is the command)" if "--workdir" in command else ""
        parser.error(f"{args.command} needs --stack-file" + ("" if args.command == "up" else " or --workdir") + late)
    if command and args.command != "exec":
        parser.error(f"{args.command} takes no command after '--'")
    workdir = (args.workdir or default_workdir(args.stack_file)).resolve()
    if os.geteuid() != 0:
        print("error: the lab creates network namespaces: run it as root", file=sys.stderr)
        return 2
    _logging(workdir, args.verbose)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        if args.command == "up":
            lab = up(args.stack_file, workdir, keep_on_failure=args.keep_on_failure, hosts=args.hosts == "ssh")
            print(f"lab {lab.plan.lab_id} up in {workdir}: {' '.join(lab.state.namespaces)}")
            for line in hosts_lines(lab.state, workdir):
                print(line)
            print("\n".join(timings_lines(json.loads((workdir / "timings.json").read_text()))))
        elif args.command == "exec":
            return _exec(workdir, args.host, command)
        elif args.command == "inspect":
            return _inspect(workdir, args.json, args.expect_empty)
        elif args.command == "verify":
            lab = Lab.attach(workdir)
            if args.faults:
                run_faults(lab)
            report = lab.verify()
            print(json.dumps(report, indent=2, sort_keys=True) if args.json else summary(report))
        else:
            removed = down(workdir)
            print(f"removed: {', '.join(removed)}" if removed else f"nothing to remove in {workdir}")
    except StackUnusable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: what was built is removed (for `up`); run `down` for a lab already up", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
