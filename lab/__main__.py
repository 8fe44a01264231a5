"""``python -m lab up|verify|down --stack-file PATH [--workdir DIR]``: see ``docs/lab.md``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from lab.plan import StackUnusable
from lab.report import summary, timings_lines
from lab.run import Lab, default_workdir, down, up
from lab.shell import LabError


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab", description="BGP lab in network namespaces from a stack file"
    )
    parser.add_argument("command", choices=("up", "verify", "down"))
    parser.add_argument("--stack-file", type=Path, required=True, help="a Pulumi.<stack>.yaml file")
    parser.add_argument(
        "--workdir", type=Path, help="state, configs, logs and timings (default: /tmp/cilium-bgp-lab-<stack>)"
    )
    parser.add_argument("--faults", action="store_true", help="verify: also run the fault cases")
    parser.add_argument("--json", action="store_true", help="verify: print the full report as JSON")
    parser.add_argument("--keep-on-failure", action="store_true", help="up: leave a failed lab for inspection")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command to stderr")
    args = parser.parse_args(argv)
    workdir = (args.workdir or default_workdir(args.stack_file)).resolve()
    if os.geteuid() != 0:
        print("error: the lab creates network namespaces: run it as root", file=sys.stderr)
        return 2
    _logging(workdir, args.verbose)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        if args.command == "up":
            lab = up(args.stack_file, workdir, keep_on_failure=args.keep_on_failure)
            print(f"lab {lab.plan.lab_id} up in {workdir}: {' '.join(lab.plan.topology.namespaces)}")
            print("\n".join(timings_lines(json.loads((workdir / "timings.json").read_text()))))
        elif args.command == "verify":
            lab = Lab.attach(workdir)
            if args.faults:
                from lab.faults import run_faults

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
