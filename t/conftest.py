"""Test harness for ngx_neonpro: starts the reference agent and nginx instances.

Every nginx started here runs the Debian binary (/usr/sbin/nginx) with the
module under test loaded by `load_module`, in its own temporary prefix under
/tmp, listening on a free 127.0.0.1 port. Workers run as `nobody`, so the
prefix is world-readable and its temp directories are world-writable.

`http_body` strings passed to the factories are the inside of the `http {}`
block. The placeholders `{port}`, `{agent_port}` and `{prefix}` are replaced
with str.replace, because nginx configs are full of braces.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
MODULE = Path(
    os.environ.get(
        "NEONPRO_MODULE", str(REPO / "build" / "nginx" / "objs" / "ngx_neonpro_module.so")
    )
)
NGINX = os.environ.get("NEONPRO_NGINX", "/usr/sbin/nginx")
PYTHON = "/usr/bin/python3"

AGENT_APP_DIR = REPO / "docker" / "agent"

# Bounds for waiting on processes. They only cap a wait that normally ends
# in milliseconds, and no test asserts on how long anything took.
STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05

TEMP_SUBDIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

# Config pieces for locations that proxy to the reference agent.
AGENT_UPSTREAM = "upstream ai_agent { server 127.0.0.1:{agent_port}; keepalive 8; }\n"
PROXY_TO_AGENT = 'proxy_pass http://ai_agent; proxy_http_version 1.1; proxy_set_header Connection "";'

# Request headers that pass the default legal-basis check.
LEGAL_HEADERS = {"X-LGPD-Purpose": "medical_care", "X-LGPD-Legal-Basis": "health_protection"}

# Header defaults of docs/directives.md, as (Cache-Control, Pragma, Expires).
# None means that the filter sends no such header.
CACHE_POLICY = {
    "patient": ("no-store, no-cache, must-revalidate, private", "no-cache", "0"),
    "api": ("public, max-age=300, stale-while-revalidate=60", None, None),
    "credentialed": ("private, max-age=300, stale-while-revalidate=60", None, None),
    "image": ("public, max-age=2592000, stale-while-revalidate=86400", None, None),
    "static": ("public, max-age=31536000, immutable", None, None),
    # 4xx and 5xx responses of the api, image and static classes.
    "error": ("no-store", None, None),
}

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
}

# Compliance headers of api and patient responses.
COMPLIANCE_HEADERS = {
    "X-LGPD-Compliant": "true",
    "X-CFM-Compliant": "true",
    "X-ANVISA-Compliant": "true",
    "X-Data-Residency": "brazil-only",
}

# Compliance headers of patient responses only.
PATIENT_COMPLIANCE_HEADERS = {
    "X-Data-Retention": "20-years",
    "X-Data-Classification": "patient",
}


def free_port():
    """Return a TCP port on 127.0.0.1 that was free when this function ran."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(proc, first_signal=signal.SIGTERM):
    """Stop one process that this harness started, by its PID, and reap it.

    Sends `first_signal`, then SIGTERM and SIGKILL if the process is still
    running after STOP_TIMEOUT_S.
    """
    if proc.poll() is not None:
        return
    for sig in (first_signal, signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait(timeout=STOP_TIMEOUT_S)


def read_text(path):
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def require_module():
    if not MODULE.is_file():
        pytest.fail(
            f"nginx module not found at {MODULE}: run `make -C {REPO} build` "
            "or set NEONPRO_MODULE to the path of ngx_neonpro_module.so",
            pytrace=False,
        )


def load_module_line():
    """Return the `load_module` line of every generated nginx.conf."""
    require_module()
    return f"load_module {MODULE};\n"


# ---------------------------------------------------------------------------
# Reference agent


class Agent:
    """A running reference agent (docker/agent/app.py) and its control API."""

    def __init__(self, port, proc, stderr_path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = proc
        self.stderr_path = stderr_path

    def _control(self, method, path, json=None):
        response = httpx.request(method, self.url + path, json=json, timeout=10.0)
        response.raise_for_status()
        return response

    def fault(self, mode, count=1, delay_ms=2000):
        """Make the next `count` agent requests fail in the given mode."""
        self._control(
            "POST", "/_control/fault", json={"mode": mode, "count": count, "delay_ms": delay_ms}
        )

    def release(self):
        """Let requests held by the `stall` fault finish."""
        self._control("POST", "/_control/release")

    def reset(self):
        """Clear faults and the recorded request list."""
        self._control("POST", "/_control/reset")

    def requests(self):
        """Return the requests the agent received since the last reset."""
        return self._control("GET", "/_control/requests").json()["requests"]

    def stderr(self):
        return read_text(self.stderr_path)


@pytest.fixture(scope="session")
def agent():
    """Start the reference agent once per session on a free port."""
    app_file = AGENT_APP_DIR / "app.py"
    if not app_file.is_file():
        pytest.fail(f"reference agent not found at {app_file}", pytrace=False)

    workdir = Path(tempfile.mkdtemp(prefix="neonpro-agent-"))
    stderr_path = workdir / "agent.stderr"
    port = free_port()
    env = dict(os.environ, NEONPRO_AGENT_CONTROL="1")
    command = [
        PYTHON, "-m", "uvicorn",
        "--app-dir", str(AGENT_APP_DIR), "app:app",
        "--host", "127.0.0.1", "--port", str(port),
        "--timeout-keep-alive", "75", "--no-access-log",
    ]
    with open(stderr_path, "wb") as stderr_file:
        proc = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
            stdout=stderr_file, stderr=stderr_file,
        )
    instance = Agent(port, proc, stderr_path)

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(
                f"reference agent exited with status {proc.returncode} before "
                f"GET /health succeeded; its output:\n{instance.stderr()}",
                pytrace=False,
            )
        try:
            if httpx.get(instance.url + "/health", timeout=1.0).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_process(proc)
            pytest.fail(
                f"reference agent did not answer GET /health with 200 within "
                f"{STARTUP_TIMEOUT_S:.0f} s; its output:\n{instance.stderr()}",
                pytrace=False,
            )
        time.sleep(POLL_INTERVAL_S)

    yield instance

    stop_process(proc)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def clean_agent(agent):
    """Return the session's agent after clearing its faults and request log."""
    agent.reset()
    return agent


# ---------------------------------------------------------------------------
# nginx


def make_prefix():
    """Create an nginx prefix directory that the `nobody` workers can use."""
    prefix = Path(tempfile.mkdtemp(prefix="neonpro-nginx-"))
    prefix.chmod(0o755)
    tmp = prefix / "tmp"
    tmp.mkdir(mode=0o777)
    tmp.chmod(0o777)
    for name in TEMP_SUBDIRS:
        path = tmp / name
        path.mkdir()
        path.chmod(0o777)
    html = prefix / "html"
    html.mkdir()
    html.chmod(0o755)
    return prefix


def write_prefix_file(prefix, relpath, content, mtime=None):
    """Write a world-readable file below the prefix, creating its directories."""
    path = prefix / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    directory = path.parent
    while directory != prefix and prefix in directory.parents:
        directory.chmod(0o755)
        directory = directory.parent
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    path.chmod(0o644)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def substitute(http_body, port, agent_port, prefix):
    text = http_body.replace("{port}", str(port)).replace("{prefix}", str(prefix))
    if agent_port is not None:
        text = text.replace("{agent_port}", str(agent_port))
    return text


def render_config(http_body, prefix, *, workers=1, main_extra="", events_extra=""):
    temp_paths = "".join(
        f"    {name}_temp_path {prefix}/tmp/{name};\n" for name in TEMP_SUBDIRS
    )
    return (
        load_module_line()
        + "daemon off;\n"
        + "master_process on;\n"
        + f"worker_processes {workers};\n"
        + f"pid {prefix}/nginx.pid;\n"
        + f"error_log {prefix}/error.log info;\n"
        + main_extra + "\n"
        + "events {\n    worker_connections 1024;\n" + events_extra + "\n}\n"
        + "http {\n    access_log off;\n" + temp_paths + http_body + "\n}\n"
    )


def child_processes(parent_pid):
    """Return {pid: cmdline} for the children of `parent_pid`."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        # The command name in field 2 may contain spaces, so split after ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent_pid:
            children[int(entry)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return children


class Nginx:
    """One running nginx master with its prefix directory."""

    def __init__(self, prefix, port, proc, workers, agent_port=None):
        self.prefix = prefix
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = proc
        self.workers = workers
        self.agent_port = agent_port
        self.html_dir = prefix / "html"

    def error_log(self):
        """Return the whole error log of this instance as text."""
        return read_text(self.prefix / "error.log")

    def read_file(self, relpath):
        """Return the text of a file below the prefix (an access log, say)."""
        return read_text(self.prefix / relpath)

    def wait_for_line(self, relpath, start):
        """Return the first line of a prefix file that begins with `start`.

        nginx writes an access-log line in the log phase, which may run just
        after the client has read the response, so this waits (bounded).
        """
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            for line in self.read_file(relpath).splitlines():
                if line.startswith(start):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no line starting with {start!r} in {relpath}:\n{self.read_file(relpath)}"
                )
            time.sleep(POLL_INTERVAL_S)

    def write_file(self, relpath, content, mtime=None):
        """Write a file below the prefix, for static locations to serve."""
        return write_prefix_file(self.prefix, relpath, content, mtime)

    def request(self, method, path, **kwargs):
        """Send one request on a new connection and return the httpx.Response."""
        kwargs.setdefault("timeout", 10.0)
        with httpx.Client(base_url=self.url) as client:
            return client.request(method, path, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def worker_pids(self):
        """Return the PIDs of the workers that accept new connections."""
        return {
            pid for pid, cmdline in child_processes(self.proc.pid).items()
            if cmdline == "nginx: worker process"
        }

    def wait_for_workers(self, exclude=frozenset()):
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"nginx exited with status {self.proc.returncode}; "
                    f"error.log:\n{self.error_log()}"
                )
            current = self.worker_pids() - set(exclude)
            if len(current) >= self.workers:
                return current
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"nginx did not start {self.workers} new worker(s) within "
                    f"{STARTUP_TIMEOUT_S:.0f} s; error.log:\n{self.error_log()}"
                )
            time.sleep(POLL_INTERVAL_S)

    def write_config(self, http_body, *, main_extra="", events_extra=""):
        """Replace nginx.conf with a new http_body, which takes effect on reload()."""
        agent_port = self.agent_port
        if agent_port is None and "{agent_port}" in http_body:
            raise ValueError("this nginx was started without the agent, so {agent_port} is unknown")
        body = substitute(http_body, self.port, agent_port, self.prefix)
        config = render_config(
            body, self.prefix, workers=self.workers,
            main_extra=main_extra, events_extra=events_extra,
        )
        (self.prefix / "nginx.conf").write_text(config)

    def reload(self):
        """Send SIGHUP and wait until new workers replace the old ones.

        Raises RuntimeError with the new error.log lines when nginx rejects
        the configuration and keeps the old workers.
        """
        old_workers = self.worker_pids()
        log_offset = len(self.error_log())
        os.kill(self.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            new_lines = self.error_log()[log_offset:]
            if "[emerg]" in new_lines:
                raise RuntimeError(f"nginx rejected the reloaded config:\n{new_lines}")
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"nginx exited with status {self.proc.returncode} on reload; "
                    f"error.log:\n{new_lines}"
                )
            current = self.worker_pids()
            if len(current - old_workers) >= self.workers and not (current & old_workers):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"nginx did not replace its workers within {STARTUP_TIMEOUT_S:.0f} s "
                    f"after SIGHUP; new error.log lines:\n{new_lines}"
                )
            time.sleep(POLL_INTERVAL_S)

    def stop(self):
        """Stop nginx gracefully (SIGQUIT), forcing it after a bounded wait."""
        stop_process(self.proc, first_signal=signal.SIGQUIT)


def launch_nginx(prefix, port, workers, agent_port):
    proc = subprocess.Popen(
        [NGINX, "-p", f"{prefix}/", "-c", f"{prefix}/nginx.conf", "-e", f"{prefix}/error.log"],
        stdin=subprocess.DEVNULL,
        stdout=open(prefix / "nginx.stdout", "wb"),
        stderr=subprocess.STDOUT,
    )
    instance = Nginx(prefix, port, proc, workers, agent_port)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not port_accepts(port):
        if proc.poll() is not None:
            return instance
        if time.monotonic() > deadline:
            stop_process(proc, first_signal=signal.SIGQUIT)
            raise RuntimeError(
                f"nginx did not accept connections on 127.0.0.1:{port} within "
                f"{STARTUP_TIMEOUT_S:.0f} s; error.log:\n{instance.error_log()}"
            )
        time.sleep(POLL_INTERVAL_S)
    instance.wait_for_workers()
    return instance


@pytest.fixture
def nginx(request):
    """Return a factory that starts nginx with the module loaded.

    start(http_body, *, workers=1, main_extra="", events_extra="", files=None)
    returns a running Nginx. `files` maps paths relative to the prefix
    (e.g. "html/images/a.png") to str or bytes content. A body that
    contains `{agent_port}` starts the session's reference agent.
    Every instance is stopped at teardown.
    """
    started = []

    def start(http_body, *, workers=1, main_extra="", events_extra="", files=None):
        agent_port = None
        if "{agent_port}" in http_body:
            agent_port = request.getfixturevalue("agent").port

        # The port is free when chosen but another process may take it before
        # nginx binds it, so a bind failure is retried with a new port.
        for _attempt in range(3):
            prefix = make_prefix()
            for relpath, content in (files or {}).items():
                write_prefix_file(prefix, relpath, content)
            port = free_port()
            body = substitute(http_body, port, agent_port, prefix)
            config = render_config(
                body, prefix, workers=workers, main_extra=main_extra, events_extra=events_extra
            )
            (prefix / "nginx.conf").write_text(config)

            instance = launch_nginx(prefix, port, workers, agent_port)
            if instance.proc.poll() is None:
                started.append(instance)
                return instance
            log = instance.error_log() + read_text(prefix / "nginx.stdout")
            if "Address already in use" not in log:
                raise RuntimeError(
                    f"nginx exited with status {instance.proc.returncode} at startup; "
                    f"config {prefix}/nginx.conf, error.log:\n{log}"
                )
        raise RuntimeError(f"nginx could not bind a free port; last error.log:\n{log}")

    yield start

    for instance in started:
        instance.stop()
    # A crashed worker is replaced by the master, so the requests of a test
    # may all succeed while one of them killed a worker. The log shows it,
    # and the prefix of such an instance is kept for inspection.
    crashes = []
    for instance in started:
        lines = [line for line in instance.error_log().splitlines() if "exited on signal" in line]
        if lines:
            crashes.append(f"{instance.prefix}/error.log:\n" + "\n".join(lines))
        else:
            shutil.rmtree(instance.prefix, ignore_errors=True)
    if crashes:
        pytest.fail("nginx worker crashed; " + "\n".join(crashes), pytrace=False)


@pytest.fixture
def nginx_t():
    """Return check(http_body, *, main_extra="") -> (returncode, stderr_text) of `nginx -t`."""
    prefixes = []

    def check(http_body, *, main_extra=""):
        prefix = make_prefix()
        prefixes.append(prefix)
        # `nginx -t` never connects to upstreams, so any port number will do.
        body = substitute(http_body, free_port(), free_port(), prefix)
        config = render_config(body, prefix, main_extra=main_extra)
        (prefix / "nginx.conf").write_text(config)
        result = subprocess.run(
            [NGINX, "-t", "-p", f"{prefix}/", "-c", f"{prefix}/nginx.conf",
             "-e", f"{prefix}/error.log"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
        )
        return result.returncode, result.stderr.decode(errors="replace")

    yield check

    for prefix in prefixes:
        shutil.rmtree(prefix, ignore_errors=True)
