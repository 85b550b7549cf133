"""SMTP ingest throughput and server CPU per message, against aiosmtpd's bare Sink.

    python -m benchmarks.smtp_ingest [--messages N] [--rounds R] [--quick]

Postfix's ``smtp-source`` (a C load generator, installed by
``../shared/tools/smtp-source.sh --install`` or found as ``$SMTP_SOURCE``) sends
the load.  Each scenario runs every server kind in turn, ``--rounds`` times,
alternating, and reports medians and the ratio to the baseline measured in the
same run: machines here are shared and noisy, so only ratios mean much.
Server CPU is read from /proc for the server process alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.results_file import save

ROOT = Path(__file__).resolve().parent.parent
POSTFIX_DIR = Path(os.environ.get("POSTFIX_DIR", "/opt/postfix"))
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Scenario:
    name: str
    size: int
    sessions: int
    keep_connection: bool
    messages: int


@dataclass
class Result:
    scenario: str
    server: str
    round: int
    seconds: float
    msgs_per_s: float
    cpu_ms_per_msg: float


def smtp_source() -> list[str]:
    """Return the command that runs smtp-source, installing it if needed.

    ``$SMTP_SOURCE`` names the binary; otherwise Postfix's Debian package is
    unpacked into ``$POSTFIX_DIR`` (default /opt/postfix) by
    ``../shared/tools/smtp-source.sh`` when that script is beside the checkout.
    """
    binary = os.environ.get("SMTP_SOURCE") or str(POSTFIX_DIR / "usr/sbin/smtp-source")
    if not Path(binary).exists():
        tool = ROOT.parent / "shared/tools/smtp-source.sh"
        if not tool.exists():
            raise SystemExit(
                "smtp-source not found: set SMTP_SOURCE to Postfix's smtp-source, or unpack it "
                "with `apt-get download postfix && dpkg-deb -x postfix_*.deb /opt/postfix`"
            )
        subprocess.run(["bash", str(tool), "--install"], check=True, capture_output=True)
    return [binary]


def cpu_seconds(pid: int) -> float:
    """Return user+system CPU seconds used so far by a process (all threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_server(kind: str, workdir: Path) -> tuple[subprocess.Popen[str], int]:
    """Start a server process of a kind and return it with its port."""
    args = [sys.executable, "-m", "benchmarks.servers", kind]
    if kind == "sqlite":
        args.append(str(workdir / f"bench-{time.monotonic_ns()}.db"))
    process = subprocess.Popen(
        args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"server {kind} did not start: {line!r}")
    return process, int(line.split()[1])


def run_one(kind: str, scenario: Scenario, round_no: int, workdir: Path) -> Result:
    """Load one fresh server with one scenario and measure it."""
    process, port = start_server(kind, workdir)
    try:
        env = {**os.environ, "LD_LIBRARY_PATH": str(POSTFIX_DIR / "usr/lib/postfix")}
        command = [
            *smtp_source(),
            "-s",
            str(scenario.sessions),
            "-m",
            str(scenario.messages),
            "-l",
            str(scenario.size),
            "-f",
            "load@bench.test",
            "-t",
            "sink@bench.test",
        ]
        if scenario.keep_connection:
            command.append("-d")
        command.append(f"127.0.0.1:{port}")
        cpu_before = cpu_seconds(process.pid)
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(process.pid) - cpu_before
    finally:
        process.terminate()
        process.wait(10)
    return Result(
        scenario.name,
        kind,
        round_no,
        seconds,
        scenario.messages / seconds,
        cpu * 1000 / scenario.messages,
    )


def scenarios(messages: int) -> list[Scenario]:
    """Return every combination the issue asks for: 1 KB and 100 KB, 1 and 10 sessions,
    a connection per message and connections kept."""
    big = max(200, messages // 4)
    return [
        Scenario("1KB x10 conn/msg", 1024, 10, False, messages),
        Scenario("1KB x1 conn/msg", 1024, 1, False, messages // 2),
        Scenario("1KB x10 kept", 1024, 10, True, messages),
        Scenario("1KB x1 kept", 1024, 1, True, messages // 2),
        Scenario("100KB x10 conn/msg", 100 * 1024, 10, False, big),
        Scenario("100KB x1 conn/msg", 100 * 1024, 1, False, big // 2),
        Scenario("100KB x10 kept", 100 * 1024, 10, True, big),
        Scenario("100KB x1 kept", 100 * 1024, 1, True, big // 2),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default="sink,memory,sqlite")
    parser.add_argument("--only", default="", help="run scenarios whose name contains this")
    args = parser.parse_args()
    if shutil.which("python3") is None:
        raise SystemExit("python3 not found")
    kinds = args.servers.split(",")
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in scenarios(args.messages):
            if args.only and args.only not in scenario.name:
                continue
            for round_no in range(args.rounds):
                for kind in kinds:
                    results.append(run_one(kind, scenario, round_no, Path(tmp)))
    report(results, kinds)
    print(f"\nresults: {save('smtp_ingest', [asdict(r) for r in results])}")


def report(results: list[Result], kinds: list[str]) -> None:
    """Print medians per scenario and server, with ratios to the first server kind."""
    print(f"{'scenario':<22}{'server':<9}{'msg/s':>9}{'CPU ms/msg':>12}{'x baseline':>12}")
    for name in dict.fromkeys(r.scenario for r in results):
        base = None
        for kind in kinds:
            runs = [r for r in results if r.scenario == name and r.server == kind]
            rate = statistics.median(r.msgs_per_s for r in runs)
            cpu = statistics.median(r.cpu_ms_per_msg for r in runs)
            base = base or rate
            print(f"{name:<22}{kind:<9}{rate:>9.0f}{cpu:>12.2f}{rate / base:>11.2f}x")


if __name__ == "__main__":
    main()
