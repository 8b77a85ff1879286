"""Runs Rebound's services (and the sandbox providers) as separate processes, for the integration
tests and the benchmarks."""

import fcntl
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from deploy.postgres_access import service_url

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("disruption", "rebooking", "compensation", "notify")
# How long a stopped service may take to end before it is killed: Kubernetes' default grace
# period, as deploy/kubernetes/ sets it.
GRACE_SECONDS = 30
# Ports the project's own scripts use (demo services, sandbox, local and fault-harness Kafka and
# PostgreSQL): never handed to a test stack.
FIXED_PORTS = frozenset({2525, 8001, 8002, 8003, 8004, 8090, 8091, 15432, 19092, 25432, 29092, 29093})
LOWEST_PORT = 10000
_PORT_LOCKS = Path(tempfile.gettempdir()) / "rebound-ports"
_held: dict[int, IO[bytes]] = {}


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A port nothing else will take before our process binds it.

    A port from the kernel's ephemeral range (what binding port 0 gives) can be taken by any
    outgoing connection between the moment it is picked and the moment the service binds it. So
    ports come from below that range, where only an explicit bind lands, and each is reserved by an
    advisory lock on a file of its own, held until this process exits (the kernel drops the lock
    even on SIGKILL): two stacks on one machine never pick the same port."""
    low, _ = _ephemeral_range()
    _PORT_LOCKS.mkdir(parents=True, exist_ok=True)
    candidates = [p for p in range(LOWEST_PORT, low) if p not in FIXED_PORTS and p not in _held]
    random.SystemRandom().shuffle(candidates)
    for port in candidates:
        lock = (_PORT_LOCKS / str(port)).open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # in use by something that is not ours
                lock.close()
                continue
        _held[port] = lock
        return port
    raise RuntimeError(f"no free port between {LOWEST_PORT} and {low}")


@dataclass
class Stack:
    env: dict[str, str]
    logs: Path
    services: tuple[str, ...] = SERVICES
    ports: dict[str, int] = field(default_factory=dict)
    _common: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)
    service_of: dict[str, str] = field(default_factory=dict)  # a replica's service
    roots: dict[str, Path] = field(default_factory=dict)  # where a process's code is, if not this checkout

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self) -> "Stack":
        """Start the sandbox providers and the services; if any fails to start, every process
        started so far is stopped before the error is raised."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> "Stack":
        self.ports = {name: free_port() for name in
                      ("disruption", "rebooking", "compensation", "notify", "sms", "smtp", "payments")}
        common = os.environ | self.env | {
            "REBOUND_SANDBOX_SMS_PORT": str(self.ports["sms"]),
            "REBOUND_SANDBOX_SMTP_PORT": str(self.ports["smtp"]),
            "REBOUND_SANDBOX_DIR": str(self.logs / "sandbox"),
            "REBOUND_SMS_API_URL": f"http://127.0.0.1:{self.ports['sms']}",
            "REBOUND_EMAIL_API_URL": f"http://127.0.0.1:{self.ports['sms']}",
            "REBOUND_EMAIL_LOOKUP_URL": f"http://127.0.0.1:{self.ports['sms']}/v1/mail",
            "REBOUND_SMTP_PORT": str(self.ports["smtp"]),
            "REBOUND_PUSH_WEBHOOK_URL": f"http://127.0.0.1:{self.ports['sms']}/v1/push",
            "REBOUND_SANDBOX_PAYMENTS_PORT": str(self.ports["payments"]),
            "REBOUND_SANDBOX_NOTIFY_URL": f"http://127.0.0.1:{self.ports['notify']}",
            "REBOUND_PAYMENT_API_URL": f"http://127.0.0.1:{self.ports['payments']}",
            **{f"REBOUND_{name.upper()}_URL": f"http://127.0.0.1:{self.ports[name]}"
               for name in ("rebooking", "compensation", "notify")},
        }
        self._common = common
        self._spawn("sandbox", "services.notify.sandbox", common)
        self._spawn("payments", "services.compensation.sandbox", common)
        for name in self.services:
            self._spawn(name, f"services.{name}", common | self._own(name))
        self._wait_ready("sandbox", f"{self.url('sms')}/v1/sms")
        self._wait_ready("payments", f"{self.url('payments')}/v1/payouts")
        for name in self.services:
            self._wait_ready(name, f"{self.url(name)}/readyz")
        return self

    def _own(self, name: str, service: str | None = None) -> dict[str, str]:
        """A service process's own settings: its port, and its database role (the admin's
        connection is the stack's; each service connects as its own role, as deployed)."""
        return {"REBOUND_HTTP_PORT": str(self.ports[name]), "REBOUND_PUBLIC_URL": self.url(name),
                "REBOUND_DATABASE_URL": service_url(self._common["REBOUND_DATABASE_URL"], service or name)}

    def add_replica(self, service: str, index: int | str, env: dict[str, str] | None = None) -> str:
        """Another process of `service` in the same consumer group, on its own port (with `env`
        over the stack's settings)."""
        name = f"{service}-{index}"
        self.ports[name] = free_port()
        self.service_of[name] = service
        self._spawn(name, f"services.{service}", self._common | self._own(name, service) | (env or {}))
        self._wait_ready(name, f"{self.url(name)}/readyz")
        return name

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=15)

    def restart(self, name: str, within_seconds: float = 90, root: Path | None = None) -> None:
        """Start a service or replica again on its own port (after `kill` or `stop_process`); from
        the code at `root` (another release's tree) from now on, if given."""
        self.start_again(name, root)
        self.wait_ready(name, within_seconds)

    def wait_ready(self, name: str, within_seconds: float = 90) -> None:
        self._wait_ready(name, f"{self.url(name)}/readyz", within_seconds)

    def start_again(self, name: str, root: Path | None = None) -> None:
        """Start a service or replica again, not waiting for it to be ready."""
        if root is not None:
            self.roots[name] = root
        self._spawn(name, self.modules[name], self._common | self._own(name, self.service_of.get(name)))

    def stop_process(self, name: str) -> None:
        """Stop it as a rollout does: SIGTERM, then SIGKILL once the grace period is over (a
        shutdown can wait on a broker that is down meanwhile)."""
        process = self.processes.pop(name)
        process.terminate()
        try:
            process.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _spawn(self, name: str, module: str, env: dict[str, str]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        self.modules[name] = module
        self.processes[name] = subprocess.Popen([sys.executable, "-m", module], cwd=self.roots.get(name, ROOT), env=env,
                                                stdout=log, stderr=subprocess.STDOUT)

    def _wait_ready(self, name: str, url: str, within_seconds: float = 90) -> None:
        deadline = time.monotonic() + within_seconds
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log_tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{name} not ready within {within_seconds} s:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
