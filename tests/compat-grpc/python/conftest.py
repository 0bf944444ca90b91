"""Harness: one rocketry standalone (NameServer + broker + gRPC port) for the whole session,
topics and groups made with `rocketry admin`, and the SDK's clients shut down after each test.

Environment:
  ROCKETRY_BIN   the rocketry binary (required)
  GRPC_DEFAULT_SSL_ROOTS_FILE_PATH   set here (pytest_configure), to the throwaway CA of the TLS
                 tests: gRPC's default roots, which the SDK's tls_enable=True verifies against
  RUST_LOG       passed through to the broker (e.g. `debug` to see what it answered)
  KEEP_WORK=1    keep the work dir (broker data and logs) even when every test passed

The TLS tests (test_tls.py) get a second broker, `tls_broker`, serving a certificate signed by
that CA (grpcTlsCertPath/grpcTlsKeyPath); it starts only when one of them runs.

Logs of a run are under .work/<run>/: broker.out, broker.err (tls-broker.* for the TLS broker)
and sdk.log (the SDK's own logger
at DEBUG, which prints every receive response). A failing test prints their tails.
"""

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import tls_certs

HERE = os.path.dirname(os.path.abspath(__file__))
READY_LINE = "gRPC (RocketMQ 5.x) listening"
START_TIMEOUT_S = 30
ADMIN_TIMEOUT_S = 30
SHUTDOWN_TIMEOUT_S = 15


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=60):
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"<cannot read {path}: {e}>"


class Broker:
    def __init__(self, binary, work, name="broker", conf_lines=(), admin_args=()):
        self.binary = binary
        # Added to every `rocketry admin` command (a super user's credentials with ACL on).
        self.admin_args = list(admin_args)
        self.work = work
        self.data_dir = tempfile.mkdtemp(prefix="rocketry-py-data-")
        self.namesrv_port = free_port()
        self.broker_port = free_port()
        self.grpc_port = free_port()
        self.conf = os.path.join(work, f"{name}.conf")
        self.out_path = os.path.join(work, f"{name}.out")
        self.err_path = os.path.join(work, f"{name}.err")
        self.conf_lines = list(conf_lines)
        self.proc = None

    @property
    def namesrv(self):
        return f"127.0.0.1:{self.namesrv_port}"

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.grpc_port}"

    def start(self):
        with open(self.conf, "w") as f:
            f.write("diskCapacityBytes=1099511627776\n")
            for line in self.conf_lines:
                f.write(line + "\n")
        cmd = [
            self.binary, "standalone",
            "--data-dir", self.data_dir,
            "--namesrv-port", str(self.namesrv_port),
            "--broker-port", str(self.broker_port),
            "--grpc-port", str(self.grpc_port),
            "-c", self.conf,
        ]
        self.out = open(self.out_path, "w")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"rocketry exited with {self.proc.returncode} while starting: {' '.join(cmd)}\n"
                    f"--- stdout\n{tail(self.out_path)}\n--- stderr\n{tail(self.err_path)}")
            if READY_LINE in tail(self.out_path, 1000) and self._accepts():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"rocketry did not start serving gRPC on {self.endpoint} within {START_TIMEOUT_S}s\n"
            f"--- stdout\n{tail(self.out_path)}\n--- stderr\n{tail(self.err_path)}")

    def _accepts(self):
        try:
            with socket.create_connection(("127.0.0.1", self.grpc_port), timeout=1):
                return True
        except OSError:
            return False

    def admin(self, *args):
        cmd = [self.binary, "admin", *args, *self.admin_args]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=ADMIN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"`{' '.join(cmd)}` did not finish within {ADMIN_TIMEOUT_S}s")
        if r.returncode != 0:
            raise AssertionError(
                f"`{' '.join(cmd)}` exited with {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}")
        return r.stdout

    def create_topic(self, topic, fifo=False, queues=4):
        args = ["updateTopic", "-n", self.namesrv, "-c", "DefaultCluster", "-t", topic,
                "-r", str(queues), "-w", str(queues)]
        if fifo:
            args += ["-a", "+message.type=FIFO"]
        self.admin(*args)
        return topic

    def create_group(self, group, orderly=False):
        args = ["updateSubGroup", "-n", self.namesrv, "-c", "DefaultCluster", "-g", group]
        if orderly:
            args += ["-o", "true"]
        self.admin(*args)
        return group

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
        for f in (getattr(self, "out", None), getattr(self, "err", None)):
            if f:
                f.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


# ---- session-wide state

_failed = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        _failed.append(item.nodeid)
        work = item.config.stash.get(_work_key, None)
        if work:
            sections = [
                ("broker stdout (tail)", os.path.join(work, "broker.out"), 20),
                ("broker stderr (tail)", os.path.join(work, "broker.err"), 60),
                ("TLS broker stdout (tail)", os.path.join(work, "tls-broker.out"), 20),
                ("TLS broker stderr (tail)", os.path.join(work, "tls-broker.err"), 60),
                ("SDK log (tail)", os.path.join(work, "sdk.log"), 80),
            ]
            for title, path, n in sections:
                if title.startswith("TLS") and not os.path.exists(path):
                    continue
                rep.sections.append((title, tail(path, n)))


_work_key = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def work_dir(pytestconfig):
    root = os.path.join(HERE, ".work")
    os.makedirs(root, exist_ok=True)
    for old in sorted(d for d in os.listdir(root) if d.startswith("run-"))[:-4]:
        shutil.rmtree(os.path.join(root, old), ignore_errors=True)  # keeps the last 4 kept runs
    work = tempfile.mkdtemp(prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=root)
    pytestconfig.stash[_work_key] = work
    # The SDK logs to ~/logs/rocketmq_python/ at INFO; also send it, at DEBUG, to this run's dir.
    sdk_logger = logging.getLogger("rocketmq-python-client")
    handler = logging.FileHandler(os.path.join(work, "sdk.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] [%(threadName)s] %(message)s"))
    handler.setLevel(logging.DEBUG)
    sdk_logger.addHandler(handler)
    sdk_logger.setLevel(logging.DEBUG)
    yield work
    sdk_logger.removeHandler(handler)
    handler.close()
    if not _failed and os.environ.get("KEEP_WORK") != "1":
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"\nwork dir kept: {work}")


def rocketry_bin():
    binary = os.environ.get("ROCKETRY_BIN")
    if not binary:
        pytest.fail("ROCKETRY_BIN is not set: export ROCKETRY_BIN=/abs/path/to/rocketry (or use run.sh)",
                    pytrace=False)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"ROCKETRY_BIN={binary} is not an executable file", pytrace=False)
    return os.path.abspath(binary)


@pytest.fixture(scope="session")
def broker(work_dir):
    """Plaintext clients; its TLS (same port) has the broker's own self-signed certificate."""
    b = Broker(rocketry_bin(), work_dir)
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def tls_certs_paths(pytestconfig):
    """ca.pem (gRPC's default roots in this process), server.pem, server.key."""
    return pytestconfig.stash[_tls_key]


@pytest.fixture(scope="session")
def tls_broker(work_dir, tls_certs_paths):
    """A broker serving the throwaway CA's server certificate (127.0.0.1, localhost)."""
    b = Broker(rocketry_bin(), work_dir, name="tls-broker", conf_lines=[
        f"grpcTlsCertPath={tls_certs_paths['server.pem']}",
        f"grpcTlsKeyPath={tls_certs_paths['server.key']}",
    ])
    b.start()
    yield b
    b.stop()


ROOT = ("root", "rootSecret1")


@pytest.fixture(scope="session")
def acl_broker(work_dir):
    """ACL 2.0 on (authentication and authorization) with the super user ROOT; `admin` signs as it."""
    b = Broker(rocketry_bin(), work_dir, name="acl-broker", conf_lines=[
        "authenticationEnabled=true",
        "authorizationEnabled=true",
        'initAuthenticationUser={"username":"%s","password":"%s"}' % ROOT,
    ], admin_args=["--access-key", ROOT[0], "--secret-key", ROOT[1]])
    b.start()
    yield b
    b.stop()


@pytest.fixture
def sdk_log_mark(work_dir):
    """Returns a function that reads what the SDK logged since the fixture was set up."""
    path = os.path.join(work_dir, "sdk.log")
    start = os.path.getsize(path) if os.path.exists(path) else 0

    def read():
        for h in logging.getLogger("rocketmq-python-client").handlers:
            h.flush()
        with open(path, "r", errors="replace") as f:
            f.seek(start)
            return f.read()
    return read


@pytest.fixture
def clients():
    """Clients registered here are shut down after the test, each within a bounded time."""
    started = []
    yield started
    for c in reversed(started):
        shutdown_bounded(c)


def shutdown_bounded(client, timeout=SHUTDOWN_TIMEOUT_S):
    t = threading.Thread(target=_shutdown_quietly, args=(client,), daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        logging.getLogger("rocketmq-python-client").error(f"compat: shutdown of {client} took over {timeout}s")


def _shutdown_quietly(client):
    try:
        if client.is_running:
            client.shutdown()
    except Exception as e:  # a failed shutdown is not what the tests are about
        logging.getLogger("rocketmq-python-client").error(f"compat: shutdown of {client} failed: {e}")


_tls_key = pytest.StashKey[dict]()


def pytest_configure(config):
    # gRPC reads GRPC_DEFAULT_SSL_ROOTS_FILE_PATH once, when it first needs its default roots;
    # the test modules (which import the SDK, and so grpc) are imported after this hook.
    if "grpc" in sys.modules:
        raise pytest.UsageError("grpc was imported before conftest could set GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")
    tls_dir = tempfile.mkdtemp(prefix="rocketry-py-tls-")
    paths = tls_certs.make(tls_dir)
    paths["dir"] = tls_dir
    config.stash[_tls_key] = paths
    os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = paths["ca.pem"]


def pytest_unconfigure(config):
    paths = config.stash.get(_tls_key, None)
    if paths:
        shutil.rmtree(paths["dir"], ignore_errors=True)
    # The SDK's scheduler threads are not daemons: should a client be stuck (a broker that never
    # answers), the interpreter would wait for them for ever. End the process with pytest's code.
    leftovers = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if leftovers:
        import sys
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"compat: {len(leftovers)} SDK threads still alive at exit; ending the process", file=sys.stderr)
        os._exit(getattr(config, "_compat_exitstatus", 1))


def pytest_sessionfinish(session, exitstatus):
    session.config._compat_exitstatus = int(exitstatus)
