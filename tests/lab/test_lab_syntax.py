"""Every rendered daemon config of every shipped stack and lab stack passes the daemon's own
checker (``vtysh -C`` + ``bgpd -C``, ``bird -p``, ``gobgpd -d``); broken ones fail with its words."""

from __future__ import annotations

from pathlib import Path

import pytest

from cilium_bgp.artifacts import router_config
from cilium_bgp.plan import build_plan
from cilium_bgp.secrets import reveal
from lab.plan import ConfigFile, load_stack, plan_lab
from lab.syntax import ConfigRejected, check_syntax
from tests.lab.labkit import LAB_STACKS, SHIPPED_STACKS

pytestmark = pytest.mark.lab

STACKS = SHIPPED_STACKS + sorted(LAB_STACKS.glob("Pulumi.*.yaml"))
PASSWORD = {"bgpPassword": "syntax-check-0123456789"}


def configs_of(stack_file: Path) -> list[ConfigFile]:
    """The lab's configs of a stack; for kube-router (no lab) the router's config alone."""
    cfg = load_stack(stack_file)
    if cfg.method == "kube-router":
        plan = build_plan(cfg)
        configs = []
        for router in plan.routers:
            path, text = router_config(plan, router)
            configs.append(ConfigFile(path, router.daemon, "router", text))
        return configs
    return list(plan_lab(stack_file, "syntax").configs)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name.replace("/", "_")
    path.write_text(text)
    path.chmod(0o644)  # bgpd's dry run reads it as user frr
    return path


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_rendered_configs_pass_the_daemons_checkers(lab_machine: None, tmp_path: Path, stack_file: Path) -> None:
    configs = configs_of(stack_file)
    assert {c.kind for c in configs} <= {"frr", "bird", "gobgp"}, f"unknown config kinds: {configs}"
    for config in configs:
        path = _write(tmp_path, config.path, reveal(config.text, PASSWORD))
        check_syntax(config.kind, path)


@pytest.mark.parametrize(
    ("kind", "text", "words"),
    [
        ("frr", "router bgp 65100\n neighbour 10.0.1.10 remote-as 65010\nexit\n", "Unknown command"),
        ("frr", "router bgp 65100\n neighbor 10.0.1.10 timers connect 5\nexit\n", "Specify remote-as"),
        ("bird", "router id 10.0.1.10;\nprotocol bgp uplink0 {\n  local 10.0.1.10 as 65010\n}\n", "syntax error"),
        (
            "gobgp",
            '[global.config]\n  as = 65000\n  router-id = "10.0.1.10"\n  hold-tme = 9\n',
            "invalid keys: hold-tme",
        ),
    ],
    ids=["frr-grammar", "frr-semantics", "bird", "gobgp"],
)
def test_broken_configs_fail_with_the_checkers_words(
    lab_machine: None, tmp_path: Path, kind: str, text: str, words: str
) -> None:
    path = _write(tmp_path, f"broken.{kind}", text)
    with pytest.raises(ConfigRejected) as rejected:
        check_syntax(kind, path)
    assert words in str(rejected.value), f"the checker's own message is missing: {rejected.value}"
