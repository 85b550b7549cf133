"""SMTP ingest throughput and server CPU per message, against two baselines.

    python -m benchmarks.smtp_ingest [--messages N] [--rounds R] [--only TEXT]
        [--servers sink,smtp-sink,memory,sqlite]

Postfix's ``smtp-source`` (a C load generator, installed by
``../shared/tools/smtp-source.sh --install`` or found as ``$SMTP_SOURCE``) sends
the load; the ``smtplib`` scenarios send it from 10 Python processes instead,
as a real application would.  The baselines are aiosmtpd's bare ``Sink``
(``sink``) and Postfix's ``smtp-sink`` (``smtp-sink``, a C server that
discards everything; unpacked beside ``smtp-source``, never installed as a
daemon).  Besides ``smtp-source -l``'s one-character bodies, the realistic
messages of ``benchmarks/realistic.py`` are sent (``-F``): the newsletter
(~30 KB HTML alternative plus a ~200 KB base64 PDF) and a 1 MB mail with three
attachments.  Each scenario runs every server kind in turn, ``--rounds``
times, alternating, and reports medians and the ratios to both baselines
measured in the same run: machines here are shared and noisy, so only ratios
mean much.  Server CPU is read from /proc for the server process alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import realistic
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
    message: str = ""
    """A generator of ``realistic.py`` (``newsletter``, ``large_mail``); "" for ``-l size``."""
    client: str = "smtp-source"
    """``smtp-source`` or ``smtplib`` (10 Python processes, EHLO, a connection per message)."""


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


def free_port() -> int:
    """Return a port that was free a moment ago (smtp-sink cannot pick its own)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_smtp_sink() -> tuple[subprocess.Popen[str], int]:
    """Start Postfix's smtp-sink on a free port; return it with the port."""
    binary = POSTFIX_DIR / "usr/sbin/smtp-sink"
    smtp_source()  # unpacks Postfix if needed
    env = {**os.environ, "LD_LIBRARY_PATH": str(POSTFIX_DIR / "usr/lib/postfix")}
    for _attempt in range(5):
        port = free_port()
        # -u: smtp-sink refuses to run as root without a user to switch to.
        args = [str(binary), "-u", "nobody", f"127.0.0.1:{port}", "256"]
        process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return process, port
            except OSError:
                time.sleep(0.02)
        process.kill()
        process.wait()
    raise RuntimeError("smtp-sink did not start")


def start_server(kind: str, workdir: Path) -> tuple[subprocess.Popen[str], int]:
    """Start a server process of a kind and return it with its port."""
    if kind == "smtp-sink":
        return start_smtp_sink()
    args = [sys.executable, "-m", "benchmarks.servers", kind]
    if kind.startswith("sqlite"):
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
        command = load_command(scenario, port, workdir)
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


def load_command(scenario: Scenario, port: int, workdir: Path) -> list[str]:
    """Return the command that sends one scenario's load to a port."""
    if scenario.client == "smtplib":
        return [
            sys.executable,
            "-m",
            "benchmarks.smtplib_load",
            str(port),
            str(scenario.messages),
            str(scenario.sessions),
            str(scenario.size),
        ]
    command = [*smtp_source(), "-s", str(scenario.sessions), "-m", str(scenario.messages)]
    if scenario.message:
        path = workdir / f"{scenario.message}.eml"
        if not path.exists():
            raw = getattr(realistic, scenario.message)()
            path.write_bytes(realistic.as_source_file(raw))
        command += ["-F", str(path)]
    else:
        command += ["-l", str(scenario.size)]
    command += ["-f", "load@bench.test", "-t", "sink@bench.test"]
    if scenario.keep_connection:
        command.append("-d")
    command.append(f"127.0.0.1:{port}")
    return command


def scenarios(messages: int) -> list[Scenario]:
    """Return every combination the issues ask for: 1 KB and 100 KB, 1 and 10 sessions,
    a connection per message and connections kept; realistic mail; an smtplib sender."""
    big = max(200, messages // 4)
    real = max(100, messages // 8)
    return [
        Scenario("newsletter x10 conn/msg", 231_863, 10, False, real, "newsletter"),
        Scenario("1MB-3att x10 conn/msg", 1_035_530, 10, False, max(40, real // 4), "large_mail"),
        Scenario("1KB smtplib x10", 1024, 10, False, messages // 2, client="smtplib"),
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
    parser.add_argument("--servers", default="sink,smtp-sink,memory,sqlite")
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
    """Print medians per scenario and server, with ratios to both baselines."""
    print(
        f"{'scenario':<25}{'server':<15}{'msg/s':>9}{'CPU ms/msg':>12}"
        f"{'x sink':>9}{'x smtp-sink':>13}"
    )
    for name in dict.fromkeys(r.scenario for r in results):
        runs = {k: [r for r in results if r.scenario == name and r.server == k] for k in kinds}
        rates = {k: statistics.median(r.msgs_per_s for r in runs[k]) for k in kinds}
        for kind in kinds:
            cpu = statistics.median(r.cpu_ms_per_msg for r in runs[kind])
            ratios = "".join(
                f"{rates[kind] / rates[base]:>{width}.2f}x" if base in rates else " " * (width + 1)
                for base, width in (("sink", 8), ("smtp-sink", 12))
            )
            print(f"{name:<25}{kind:<15}{rates[kind]:>9.0f}{cpu:>12.2f}{ratios}")


if __name__ == "__main__":
    main()
