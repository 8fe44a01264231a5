"""A failed engine run is reported by each resource's error, whatever the run printed after it:
the command provider's message repeats the whole host script it ran, which used to fill the tail
the report kept and hide why the run failed."""

from __future__ import annotations

from pulumi import automation as auto

from lab.toolchain import DIAGNOSTIC_HEAD, DIAGNOSTIC_TAIL, OUTPUT_TAIL, ErrorDiagnostics

URN = "urn:pulumi:lab::cilium-bgp::cilium-bgp:index:KubernetesNode$command:remote:Command::node59-bird-config"


def diagnostic(message: str, severity: str = "error", urn: str | None = URN) -> auto.EngineEvent:
    event = auto.DiagnosticEvent(message=message, color="never", severity=severity, urn=urn)
    return auto.EngineEvent(sequence=1, timestamp=0, diagnostic_event=event)


def test_each_resource_error_leads_the_report_with_its_end_kept() -> None:
    seen: list[auto.EngineEvent] = []
    diagnostics = ErrorDiagnostics(seen.append)
    script = "printf 'x'\n" * 2000
    events = [
        diagnostic(f"running {script!r}: Process exited with status 3: ssh: handshake failed: EOF"),
        diagnostic("a warning", severity="warning"),
        diagnostic("update failed", urn=None),
    ]
    for event in events:
        diagnostics(event)
    assert seen == events, "every event passes on"
    output = [f"line {i}" for i in range(200)]
    report = str(diagnostics.failure("destroy", output)).splitlines()
    assert report[0] == "pulumi destroy failed (2 resource errors):"
    assert report[1].startswith('node59-bird-config: running "printf')
    assert report[1].endswith("Process exited with status 3: ssh: handshake failed: EOF")
    assert (
        f"[... {len(events[0].diagnostic_event.message) - DIAGNOSTIC_HEAD - DIAGNOSTIC_TAIL} characters ...]"
        in (report[1])
    )
    assert len(report[1]) < DIAGNOSTIC_HEAD + DIAGNOSTIC_TAIL + 100
    assert report[2] == "stack: update failed"
    assert report[3] == "--- the run's last lines:"
    assert report[4:] == output[-OUTPUT_TAIL:]


def test_many_errors_are_counted_not_listed() -> None:
    diagnostics = ErrorDiagnostics()
    for i in range(25):
        diagnostics(diagnostic(f"failed {i}"))
    report = str(diagnostics.failure("up", [])).splitlines()
    assert report[0] == "pulumi up failed (25 resource errors):"
    assert report[20] == "node59-bird-config: failed 19"
    assert report[21] == "... and 5 more"
