"""Resource options a component hands its children."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi


def child_options(
    parent: pulumi.Resource,
    opts: pulumi.ResourceOptions | None,
    *,
    depends_on: Sequence[pulumi.Input[pulumi.Resource]] = (),
) -> pulumi.ResourceOptions:
    """Options of one of ``parent``'s children: parented to it, so it takes the component's
    providers (``provider``/``providers`` given to the component) and its URN stays under the
    component's type; ordered after what the caller ordered the component after (``opts.depends_on``:
    Python's SDK holds back the component's own registration for it, not its children's), and
    after ``depends_on`` within the component."""
    return pulumi.ResourceOptions.merge(
        pulumi.ResourceOptions(parent=parent, depends_on=opts.depends_on if opts else None),
        pulumi.ResourceOptions(depends_on=list(depends_on) or None),
    )
