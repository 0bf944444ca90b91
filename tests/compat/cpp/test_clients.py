"""The official RocketMQ C++ client 2.2.0 and the Python client built on it (PyPI
rocketmq-client-python 2.0.0, which loads the same librocketmq.so) against a rocketry binary.

run.sh builds the library, the C++ test program (cpp_client.cpp, path in CPP_CLIENT) and the
virtualenv; ROCKETRY_BIN is the binary under test. Every test starts from one standalone rocketry
(free loopback ports, fresh data dir) and uses its own topics and groups.

Known client-side bugs of 2.2.0 that are not tested here: a batch send goes as one message, and
the pull consumer never commits offsets.
"""
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from capture import Proxy
from rocketmq.client import ConsumeStatus, Message, Producer, PushConsumer
from rocketmq.ffi import MessageModel

RUN = uuid.uuid4().hex[:6]


def unique(prefix):
    return f"{prefix}_{RUN}_{uuid.uuid4().hex[:6]}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port):
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def broker():
    work = tempfile.mkdtemp(prefix="rocketry-cpp-")
    ns, br = free_port(), free_port()
    conf = os.path.join(work, "broker.conf")
    with open(conf, "w") as f:
        f.write("diskCapacityBytes=1099511627776\ngrpcServerPort=0\ndashboardEnable=false\n")
    log = open(os.path.join(work, "rocketry.log"), "w")
    proc = subprocess.Popen(
        [os.environ["ROCKETRY_BIN"], "standalone", "--data-dir", os.path.join(work, "data"), "-c", conf,
         "--namesrv-port", str(ns), "--broker-port", str(br)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not (accepts(ns) and accepts(br)):
        assert proc.poll() is None, f"rocketry exited: see {work}/rocketry.log"
        assert time.time() < deadline, "rocketry did not listen within 30 s"
        time.sleep(0.1)
    namesrv = f"127.0.0.1:{ns}"
    # Routed once a send succeeds (the broker registers after it listens).
    producer = python_producer(namesrv)
    deadline = time.time() + 30
    while True:
        try:
            producer.send_sync(message(unique("Warmup"), "warm", None, None))
            break
        except Exception:
            assert time.time() < deadline, "no send succeeded within 30 s"
            time.sleep(0.3)
    producer.shutdown()
    yield {"namesrv": namesrv, "log": os.path.join(work, "rocketry.log"), "ports": (ns, br)}
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    with open(os.path.join(work, "rocketry.log")) as f:
        text = f.read()
    # A body the broker could not read is logged at warn: none from these clients.
    assert "cannot be read" not in text and "invalid body" not in text, text[-4000:]


def python_producer(namesrv, orderly=False):
    p = Producer(unique("PyProducer"), orderly=orderly, timeout=5000)
    p.set_name_server_address(namesrv)
    p.start()
    return p


def message(topic, body, tags, keys, seq=None):
    m = Message(topic)
    m.set_body(body)
    if tags:
        m.set_tags(tags)
    if keys:
        m.set_keys(keys)
    if seq is not None:
        m.set_property("seq", str(seq))
    return m


def text(v):
    return v.decode() if isinstance(v, bytes) else (v or "")


class Collector:
    """A Python push consumer that records (queue, offset, reconsume times, tags, keys, body, seq)."""

    def __init__(self, namesrv, group, topic, expression="*", orderly=False, broadcast=False, fail_first=False):
        self.got = []
        # Re-entrant: a wait's predicate may read this collector again.
        self.lock = threading.RLock()
        self.failed = set()
        self.fail_first = fail_first
        model = MessageModel.BROADCASTING if broadcast else MessageModel.CLUSTERING
        self.consumer = PushConsumer(group, orderly=orderly, message_model=model)
        self.consumer.set_name_server_address(namesrv)
        self.consumer.subscribe(topic, self.on_message, expression)

    def on_message(self, m):
        row = (m.queue_id, m.queue_offset, m.reconsume_times, text(m.tags), text(m.keys), text(m.body),
               text(m.get_property("seq")))
        with self.lock:
            self.got.append(row)
            if self.fail_first and row[5] not in self.failed:
                self.failed.add(row[5])
                return ConsumeStatus.RECONSUME_LATER
        return ConsumeStatus.CONSUME_SUCCESS

    def start(self):
        self.consumer.start()
        return self

    def bodies(self):
        with self.lock:
            return [r[5] for r in self.got]

    def wait(self, predicate, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if predicate(list(self.got)):
                    return list(self.got)
            time.sleep(0.1)
        with self.lock:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; got {self.got}")

    def stop(self):
        self.consumer.shutdown()


class CppConsumer:
    """A C++ push consumer in its own process (the client allows one consumer per group in a
    process), read line by line while it runs."""

    def __init__(self, namesrv, group, topic, mode):
        self.rows = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([os.environ["CPP_CLIENT"], "consume", namesrv, group, topic, "*", mode, "1000000", "120"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            rows = cpp_received([line.rstrip("\n")])
            with self.lock:
                self.rows.extend(rows)

    def bodies(self):
        with self.lock:
            return [r[5] for r in self.rows]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def cpp(*args, timeout=120):
    r = subprocess.run([os.environ["CPP_CLIENT"], *map(str, args)], capture_output=True, text=True, timeout=timeout)
    lines = r.stdout.splitlines()
    assert r.returncode == 0, f"cpp_client {args} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return lines


def cpp_sent(lines):
    sent = [l.split() for l in lines if l.startswith("SENT ")]
    assert all(s[1] == "0" for s in sent), f"not SEND_OK: {sent}"
    return sent


def cpp_received(lines):
    """RECV lines as (queue, offset, reconsume times, tags, keys, body)."""
    out = []
    for l in lines:
        if l.startswith("RECV "):
            _, q, off, times, tags, keys, body = l.split(" ", 6)
            out.append((int(q), int(off), int(times), "" if tags == "-" else tags, "" if keys == "-" else keys, body))
    return out


def test_cpp_producer_to_python_clustering_consumer(broker):
    topic = unique("CppToPy")
    sent = cpp_sent(cpp("produce", broker["namesrv"], topic, 8, "TagA,TagB"))
    assert len(sent) == 8
    assert len({(s[2], s[3]) for s in sent}) == 8, "distinct queue positions"
    c = Collector(broker["namesrv"], unique("PyGroup"), topic).start()
    try:
        got = c.wait(lambda g: len({r[5] for r in g}) >= 8, 60, "all 8 messages")
    finally:
        c.stop()
    by_body = {r[5]: r for r in got}
    assert set(by_body) == {f"cpp-{i}" for i in range(8)}
    for i in range(8):
        q, off, times, tags, keys, _, seq = by_body[f"cpp-{i}"]
        assert (tags, keys, seq, times) == ("TagA" if i % 2 == 0 else "TagB", f"k{i}", str(i), 0)
        assert [str(q), str(off)] == sent[i][2:4], "delivered where the send result said"


def test_python_producer_to_cpp_clustering_consumer(broker):
    topic = unique("PyToCpp")
    p = python_producer(broker["namesrv"])
    try:
        for i in range(8):
            r = p.send_sync(message(topic, f"py-{i}", "TagP", f"pk{i}", i))
            assert r.status == 0, r
    finally:
        p.shutdown()
    got = cpp_received(cpp("consume", broker["namesrv"], unique("CppGroup"), topic, "*", "clustering", 8, 60))
    assert sorted(r[5] for r in got) == sorted(f"py-{i}" for i in range(8))
    assert all(r[3] == "TagP" and r[4] == f"pk{r[5][3:]}" and r[2] == 0 for r in got), got


def test_tag_filtered_consumers_get_only_their_tags(broker):
    topic = unique("Tags")
    cpp_sent(cpp("produce", broker["namesrv"], topic, 12, "TagA,TagB,TagC,-"))
    want = sorted(f"cpp-{i}" for i in range(12) if i % 4 in (0, 2))
    c = Collector(broker["namesrv"], unique("PyTagGroup"), topic, "TagA || TagC").start()
    try:
        c.wait(lambda g: len({r[5] for r in g}) >= len(want), 60, "TagA and TagC messages")
        time.sleep(1.5)
        assert sorted(set(c.bodies())) == want
    finally:
        c.stop()
    got = cpp_received(cpp("consume", broker["namesrv"], unique("CppTagGroup"), topic, "TagA || TagC", "clustering", len(want), 60))
    assert sorted({r[5] for r in got}) == want
    assert {r[3] for r in got} == {"TagA", "TagC"}


def assert_in_key_order(bodies, keys, per_key):
    for k in range(keys):
        seen = [int(b.split("-")[1]) for b in bodies if b.startswith(f"key{k}-")]
        assert seen == list(range(per_key)), f"key{k} delivered out of order: {seen}"


def test_orderly_consumers_keep_each_keys_order(broker):
    # C++ producer (selector by key) and C++ orderly consumer.
    topic = unique("OrderCpp")
    cpp_sent(cpp("produce-orderly", broker["namesrv"], topic, 15, 3))
    got = cpp_received(cpp("consume", broker["namesrv"], unique("CppOrderGroup"), topic, "*", "orderly", 15, 60))
    assert_in_key_order([r[5] for r in got], 3, 5)
    # Python producer (sharding key) and Python orderly consumer.
    topic = unique("OrderPy")
    p = python_producer(broker["namesrv"], orderly=True)
    try:
        for i in range(15):
            k = i % 3
            p.send_orderly_with_sharding_key(message(topic, f"key{k}-{i // 3}", "TagO", f"key{k}"), f"key{k}")
    finally:
        p.shutdown()
    c = Collector(broker["namesrv"], unique("PyOrderGroup"), topic, orderly=True).start()
    try:
        got = c.wait(lambda g: len(g) >= 15, 60, "15 orderly messages")
    finally:
        c.stop()
    assert_in_key_order([r[5] for r in got], 3, 5)


def test_broadcast_consumers_each_get_every_message(broker):
    topic = unique("Broadcast")
    group = unique("BroadcastGroup")
    a = Collector(broker["namesrv"], group, topic, broadcast=True).start()
    b = CppConsumer(broker["namesrv"], group, topic, "broadcast")
    p = python_producer(broker["namesrv"])
    try:
        # Broadcast consumers start at the queues' ends: send until both are reading, then the
        # marked messages each must get.
        deadline = time.time() + 60
        while not (any(x.startswith("probe") for x in a.bodies()) and any(x.startswith("probe") for x in b.bodies())):
            assert time.time() < deadline, f"broadcast consumers never both started reading: {a.bodies()} {b.bodies()}"
            p.send_sync(message(topic, f"probe-{time.time()}", "TagB", None))
            time.sleep(0.5)
        marked = [f"mark-{i}" for i in range(6)]
        for body in marked:
            p.send_sync(message(topic, body, "TagB", None))
        a.wait(lambda g: set(marked) <= {r[5] for r in g}, 30, "every marked message (Python)")
        deadline = time.time() + 30
        while not set(marked) <= set(b.bodies()):
            assert time.time() < deadline, f"the C++ broadcast consumer missed marked messages: {b.bodies()}"
            time.sleep(0.1)
    finally:
        p.shutdown()
        a.stop()
        b.stop()


def test_two_clustering_consumers_share_the_queues(broker):
    topic = unique("Shared")
    group = unique("SharedGroup")
    a = Collector(broker["namesrv"], group, topic).start()
    b = CppConsumer(broker["namesrv"], group, topic, "clustering")
    p = python_producer(broker["namesrv"])
    try:
        sent = set()
        deadline = time.time() + 90
        # Until each consumer holds queues of its own (the client rebalances on the broker's
        # notice that the group changed, or every 20 s).
        while not (a.bodies() and b.bodies()):
            assert time.time() < deadline, f"the two consumers never both received: {a.bodies()} {b.bodies()}"
            body = f"shared-{len(sent)}"
            p.send_sync(message(topic, body, "TagS", None))
            sent.add(body)
            time.sleep(0.3)
        a.wait(lambda g: sent <= set(a.bodies()) | set(b.bodies()), 30, "every message by one of the two")
    finally:
        p.shutdown()
        a.stop()
        b.stop()


def test_a_failed_message_comes_back_through_the_retry_topic(broker):
    topic = unique("Retry")
    cpp_sent(cpp("produce", broker["namesrv"], topic, 2, "TagR"))
    c = Collector(broker["namesrv"], unique("PyRetryGroup"), topic, fail_first=True).start()
    try:
        # The client sends a failed message back; the broker redelivers it at delay level 3 (10 s).
        got = c.wait(lambda g: sorted(r[5] for r in g if r[2] == 1) == ["cpp-0", "cpp-1"], 60, "both messages retried once")
    finally:
        c.stop()
    first = {r[5]: r for r in got if r[2] == 0}
    again = {r[5]: r for r in got if r[2] == 1}
    for body in ("cpp-0", "cpp-1"):
        # Redelivered as the same message: tags, keys and properties intact.
        assert again[body][3:] == first[body][3:], (first[body], again[body])


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "crates", "protocol", "tests", "cpp")


def normalized(body):
    """A body with what changes from run to run (client id, subscription versions, the queue
    locked first) replaced."""
    text = body.decode()
    text = re.sub(r'"(clientID|clientId)":"[^"]*"', r'"\1":"CLIENT_ID"', text)
    text = re.sub(r'"subVersion":"?\d+"?', '"subVersion":"SUB_VERSION"', text)
    # Which of its queues the client locks first is its own choice.
    return re.sub(r'"queueId":\d+', '"queueId":"QUEUE_ID"', text)


def test_request_bodies_are_the_pinned_fixtures(broker):
    """The bodies cargo test reads (crates/protocol/tests/cpp/) are what the running client sends:
    its heartbeat and lock request, recorded by a proxy between it and rocketry, equal the
    fixtures but for the client id and the subscription versions."""
    ns, br = broker["ports"]
    # The fixtures' names: a fresh topic TopicTest with a message, group cpp_group.
    p = python_producer(broker["namesrv"])
    try:
        p.send_sync(message("TopicTest", "for the fixtures", "TagA", None))
    finally:
        p.shutdown()
    proxy = Proxy(ns, br, codes={34, 41})
    try:
        cpp("consume", proxy.namesrv, "cpp_group", "TopicTest", "TagA || TagB", "orderly", 1, 60)
    finally:
        proxy.close()
    heartbeats = [b for b in proxy.captured(34) if b"consumerDataSet" in b]
    locks = proxy.captured(41)
    assert heartbeats and locks, f"nothing recorded: heartbeats {proxy.captured(34)} locks {locks}"
    out = os.path.join(os.environ["HOME"], "captured")
    os.makedirs(out, exist_ok=True)
    for name, body in (("heartbeat.json", heartbeats[-1]), ("lock_batch_request.json", locks[0])):
        with open(os.path.join(out, name), "wb") as f:
            f.write(body)
        with open(os.path.join(FIXTURES, name), "rb") as f:
            fixture = f.read()
        assert normalized(body) == normalized(fixture), (
            f"the C++ client's {name} is not the fixture's shape (captured into {out}/{name}):\n"
            f"  sent:    {body!r}\n  fixture: {fixture!r}")
