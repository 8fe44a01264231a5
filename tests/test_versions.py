"""The version tables agree with the upstream charts, release by release."""

from __future__ import annotations

import pytest
from reference import VALUES, release_dir
from test_schemas import chart_has

from cilium_bgp.versions import HELM_KEYS, METHODS, Version, bgp_crd_api_version, has_helm_key

RELEASES = ("1.13.12", "1.14.16", "1.15.7", "1.16.15", "1.17.14", "1.18.3", "1.18.10")


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("row", HELM_KEYS, ids=lambda r: r.path)
def test_helm_key_table_matches_the_chart(release: str, row) -> None:  # type: ignore[no-untyped-def]
    # The reference may hold another patch release of the same minor: judge by the one we read.
    actual = release_dir(release, VALUES).name.removeprefix("v")
    path = tuple(row.path.split("."))
    assert has_helm_key(Version.parse(actual), row.path) == chart_has(actual, path), (
        f"the table says {row.path} {'exists' if has_helm_key(Version.parse(actual), row.path) else 'is gone'} "
        f"in {actual}; the chart disagrees"
    )


def test_version_parsing_and_order() -> None:
    assert Version.parse("v1.18.3") == Version(1, 18, 3)
    assert Version.parse("1.16") == Version(1, 16, 0)
    assert Version.parse("1.21.0-dev") == Version(1, 21, 0)
    assert Version(1, 9, 9) < Version(1, 10, 0) < Version(1, 10, 1)
    with pytest.raises(ValueError, match="not a Cilium version"):
        Version.parse("latest")


def test_method_lifetimes() -> None:
    assert METHODS["cilium-metallb"].exists_in(Version(1, 16, 15))
    assert not METHODS["cilium-metallb"].exists_in(Version(1, 17, 0))
    assert METHODS["cilium-bgp-v1"].exists_in(Version(1, 18, 10))
    assert not METHODS["cilium-bgp-v1"].exists_in(Version(1, 19, 0))
    assert not METHODS["cilium-bgp-v2"].exists_in(Version(1, 15, 7))
    assert bgp_crd_api_version(Version(1, 17, 14)) == "cilium.io/v2alpha1"
    assert bgp_crd_api_version(Version(1, 18, 0)) == "cilium.io/v2"
