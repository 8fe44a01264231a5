"""The lab tests' expected-subset matcher: what matches, what does not, and how it says so."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab.jsoncmp import Exact, json_cmp

pytestmark = pytest.mark.lab

SUMMARY = {
    "ipv4Unicast": {
        "routerId": "192.168.121.16",
        "peers": {
            "10.0.1.10": {"remoteAs": 65010, "state": "Established", "pfxRcd": 1},
            "10.0.2.10": {"remoteAs": 65020, "state": "Active", "pfxRcd": 0},
        },
    }
}
ROUTE = {"dst": "192.0.2.0", "nexthops": [{"gateway": "10.0.2.10", "dev": "eth2"}, {"gateway": "10.0.1.10"}]}


@pytest.mark.parametrize(
    ("expected", "differences"),
    [
        ({"ipv4Unicast": {"peers": {"10.0.1.10": {"state": "Established"}}}}, None),
        (
            {"ipv4Unicast": {"peers": {"10.0.2.10": {"state": "Established"}}}},
            ['$.ipv4Unicast.peers["10.0.2.10"].state: expected "Established", got "Active"'],
        ),
        (
            {"ipv4Unicast": {"peers": {"10.0.3.10": {}}}},
            ['$.ipv4Unicast.peers["10.0.3.10"]: missing (expected {})'],
        ),
        ({"ipv4Unicast": {"peers": {"10.0.3.10": None}}}, None),
        (
            {"ipv4Unicast": {"peers": {"10.0.2.10": None}}},
            [
                '$.ipv4Unicast.peers["10.0.2.10"]: expected absent, '
                'got {"pfxRcd": 0, "remoteAs": 65020, "state": "Active"}'
            ],
        ),
        (
            {"ipv4Unicast": {"peers": Exact({"10.0.1.10": {}})}},
            ['$.ipv4Unicast.peers["10.0.2.10"]: not expected, got {"pfxRcd": 0, "remoteAs": 65020, "state": "Active"}'],
        ),
        (
            {"ipv4Unicast": {"peers": {"10.0.1.10": {"pfxRcd": True}}}},
            ['$.ipv4Unicast.peers["10.0.1.10"].pfxRcd: expected true, got 1'],
        ),
    ],
    ids=["subset", "wrong-value", "missing", "absent", "present-but-absent", "exact-keys", "bool-is-not-int"],
)
def test_objects(expected: Any, differences: list[str] | None) -> None:
    assert json_cmp(SUMMARY, expected) == differences, f"json_cmp({expected})"


def test_lists_match_in_any_order_and_exactly_when_asked() -> None:
    either_order = {"nexthops": [{"gateway": "10.0.1.10"}, {"gateway": "10.0.2.10"}]}
    assert json_cmp(ROUTE, either_order) is None, "list elements match in any order"
    assert json_cmp(ROUTE, {"nexthops": [{"gateway": "10.0.1.10"}]}) is None, "a subset of the elements matches"
    one = {"nexthops": Exact([{"gateway": "10.0.1.10"}])}
    assert json_cmp(ROUTE, one) == [
        '$.nexthops: expected exactly 1 elements [{"gateway": "10.0.1.10"}], got 2: '
        '[{"dev": "eth2", "gateway": "10.0.2.10"}, {"gateway": "10.0.1.10"}]'
    ], "Exact: no other element"
    twice = {"nexthops": [{"gateway": "10.0.1.10"}, {}]}
    assert json_cmp(ROUTE, twice) is None, "each expected element takes a distinct actual one"
    same_twice = {"nexthops": [{"gateway": "10.0.1.10"}, {"gateway": "10.0.1.10"}]}
    assert json_cmp(ROUTE, same_twice) == [
        '$.nexthops: the expected elements [{"gateway": "10.0.1.10"}, {"gateway": "10.0.1.10"}] '
        'do not match distinct elements of [{"dev": "eth2", "gateway": "10.0.2.10"}, {"gateway": "10.0.1.10"}]'
    ], "one actual element cannot match two expected ones"
    missing = json_cmp(ROUTE, {"nexthops": [{"gateway": "10.0.3.10"}]})
    assert missing == [
        '$.nexthops: no element matches expected [0] {"gateway": "10.0.3.10"}; '
        'closest: $.nexthops[?].gateway: expected "10.0.3.10", got "10.0.2.10"'
    ], f"the closest element is named: {missing}"


def test_shapes_must_agree() -> None:
    assert json_cmp([1], {"a": 1}) == ["$: expected an object, got [1]"], "object against list"
    assert json_cmp({"a": 1}, {"a": [1]}) == ["$.a: expected a list, got 1"], "list against number"
    assert json_cmp({"a": {"b": 1}}, {"a": {"b": 1}}) is None, "equal documents match"
