package rocketry.compat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * The differential harness's parts: the Java 5.3.3 broker as a process (the oracle), what one
 * scenario observed on one broker ({@link Obs}), and the comparison of two observations against the
 * intended differences written in docs/compatibility.md.
 */
final class Differential {
    private Differential() {
    }

    /**
     * broker.conf lines both brokers get: SQL92 filters on (off by default in both), and
     * transaction checks every second (not every 30). transactionTimeOut stays at its 6 s: Java
     * 5.3 writes the ops that mark decided half messages in batches every 3 s, and with a
     * shorter timeout checks (and lets the producer decide again) messages already decided.
     */
    static final String[] COMMON_CONF = {"enablePropertyFilter=true", "transactionCheckInterval=1000"};

    /** One broker under comparison: "java" or "rocketry", where its NameServer and broker listen. */
    record Target(String name, String namesrv, String brokerAddr) { }

    /**
     * Starts the Java NameServer and broker (broker-a of DefaultCluster, as rocketry standalone) on
     * free loopback ports with their stores under the harness's work dir, and waits until the broker
     * routes. Their classpath is the file named by system property javaBrokerCp (written by
     * tests/compat/run.sh from bench/compare's pom: rocketmq-broker and rocketmq-namesrv 5.3.3 from
     * Maven Central).
     */
    static Target javaBroker(Harness h) throws Exception {
        String cpFile = System.getProperty("javaBrokerCp");
        if (cpFile == null || cpFile.isBlank() || cpFile.startsWith("${")) {
            throw new IllegalStateException("No Java broker classpath: run tests/compat/run.sh, which writes it and passes "
                + "-DjavaBrokerCp=FILE (mvn -f bench/compare/pom.xml dependency:build-classpath -Dmdep.outputFile=FILE)");
        }
        String cp = Files.readString(Paths.get(cpFile)).trim();
        int ns = Rocketry.freePorts(1)[0];
        int br = javaBrokerPort(ns);
        Path dir = h.env().newDataDir("java-broker");
        Path home = Files.createDirectories(dir.resolve("home/conf"));
        Files.writeString(dir.resolve("namesrv.conf"), "listenPort=" + ns + "\n");
        Files.writeString(dir.resolve("broker.conf"), String.join("\n",
            "brokerClusterName=DefaultCluster", "brokerName=broker-a", "brokerId=0", "listenPort=" + br,
            "namesrvAddr=127.0.0.1:" + ns, "storePathRootDir=" + dir.resolve("store"),
            "storePathCommitLog=" + dir.resolve("store/commitlog"), "brokerIP1=127.0.0.1", "autoCreateTopicEnable=true",
            "flushDiskType=ASYNC_FLUSH", "diskMaxUsedSpaceRatio=99", "mappedFileSizeCommitLog=134217728",
            String.join("\n", COMMON_CONF), ""));
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        List<String> jvm = List.of(java, "-Xms256m", "-Xmx768m", "-Duser.home=" + home.getParent(),
            "-Drocketmq.home.dir=" + home.getParent(), "-cp", cp);
        List<String> nsCmd = new ArrayList<>(jvm);
        nsCmd.addAll(List.of("org.apache.rocketmq.namesrv.NamesrvStartup", "-c", dir.resolve("namesrv.conf").toString()));
        h.env().command("java-namesrv", nsCmd, ns);
        List<String> brCmd = new ArrayList<>(jvm);
        brCmd.addAll(List.of("org.apache.rocketmq.broker.BrokerStartup", "-c", dir.resolve("broker.conf").toString()));
        h.env().command("java-broker", brCmd, br);
        Target t = new Target("java", "127.0.0.1:" + ns, "127.0.0.1:" + br);
        Clients.awaitAutoCreateRoute(h, t.namesrv(), Set.of("broker-a"));
        return t;
    }

    /** A free port P, other than ns, with P-2 (the Java broker's fast channel) and P+1 (its HA port) free too. */
    private static int javaBrokerPort(int ns) throws IOException {
        while (true) {
            int p = Rocketry.freePorts(1)[0];
            if (p < 1026 || p > 65534 || ns == p || ns == p - 2 || ns == p + 1) {
                continue;
            }
            List<ServerSocket> held = new ArrayList<>();
            try {
                for (int q : new int[] {p - 2, p, p + 1}) {
                    ServerSocket s = new ServerSocket();
                    held.add(s);
                    s.bind(new InetSocketAddress("0.0.0.0", q));
                }
                return p;
            } catch (IOException busy) {
                // try another
            } finally {
                for (ServerSocket s : held) {
                    s.close();
                }
            }
        }
    }

    /**
     * What a scenario observed on one broker, as ordered "path = value" lines. Values are written in
     * a form both brokers can agree on: addresses as BROKER / NAMESRV, message ids by the message
     * they belong to, times as {@code <time>}. Everything else is kept as the client saw it.
     */
    static final class Obs {
        final Target target;
        private final Map<String, String> values = new LinkedHashMap<>();
        /** Message ids this scenario produced, by the name they are written as. */
        private final Map<String, String> ids = new LinkedHashMap<>();

        Obs(Target target) {
            this.target = target;
        }

        synchronized void put(String key, Object value) {
            values.put(key, normalize(value == null ? "null" : String.valueOf(value)));
        }

        synchronized Map<String, String> values() {
            return new LinkedHashMap<>(values);
        }

        /** Names a message id so that later values equal to it are written as that name. */
        synchronized void nameId(String id, String name) {
            if (id != null && !id.isEmpty()) {
                ids.putIfAbsent(id, name);
            }
        }

        /** Message ids: 32 hex digits (an IPv4 CommitLog id or client id) or more (IPv6 hosts). */
        private static final Pattern HEX_ID = Pattern.compile("\\b(?:[0-9A-F]{2}){16,}\\b");
        private static final Pattern NUMBER = Pattern.compile("\\b\\d{13}\\b");
        private static final Pattern HOST = Pattern.compile("127\\.0\\.0\\.1:(\\d+)");
        private static final Pattern UUID = Pattern.compile("\\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\b");

        String normalize(String v) {
            v = v.replace(target.brokerAddr(), "BROKER").replace(target.namesrv(), "NAMESRV").replace("\n", "\\n");
            Matcher m = HEX_ID.matcher(v);
            StringBuilder sb = new StringBuilder();
            while (m.find()) {
                m.appendReplacement(sb, Matcher.quoteReplacement(idName(m.group())));
            }
            m.appendTail(sb);
            v = sb.toString();
            // Epoch milliseconds within a day of now: a time, not a value both brokers can share.
            Matcher n = NUMBER.matcher(v);
            sb = new StringBuilder();
            long now = System.currentTimeMillis();
            while (n.find()) {
                long x = Long.parseLong(n.group());
                n.appendReplacement(sb, Math.abs(x - now) < 86_400_000L ? "<time>" : n.group());
            }
            n.appendTail(sb);
            // Request-reply's correlation ids are random UUIDs; the requester's client id names
            // its instance, which is per broker.
            sb = new StringBuilder(UUID.matcher(sb.toString()).replaceAll("<uuid>")
                .replace("diff-requester-" + target.name(), "diff-requester-TARGET"));
            // Client ports: their number is the operating system's choice.
            return HOST.matcher(sb.toString()).replaceAll("127.0.0.1:<port>");
        }

        /** A 32-hex-digit id: its name if named, else decoded as a CommitLog message id (store host and offset). */
        private String idName(String id) {
            String name = ids.get(id);
            if (name != null) {
                return name;
            }
            if (id.length() != 32) {
                return "unnamedId";
            }
            byte[] b = new byte[16];
            for (int i = 0; i < 16; i++) {
                b[i] = (byte) Integer.parseInt(id.substring(2 * i, 2 * i + 2), 16);
            }
            ByteBuffer buf = ByteBuffer.wrap(b);
            String host = (b[0] & 0xff) + "." + (b[1] & 0xff) + "." + (b[2] & 0xff) + "." + (b[3] & 0xff);
            buf.position(4);
            int port = buf.getInt();
            long offset = buf.getLong();
            String store = (host + ":" + port).equals(target.brokerAddr()) ? "BROKER" : "other";
            return "offsetMsgId(" + store + ",offset " + offset + ")";
        }

        /** A send result as the client sees it; its ids are named "name.msgId" / "name.offsetMsgId". */
        void sent(String name, SendResult r) {
            nameId(r.getMsgId(), name + ".msgId");
            nameId(r.getOffsetMsgId(), name + ".offsetMsgId");
            put(name + ".status", r.getSendStatus());
            put(name + ".queue", r.getMessageQueue().getBrokerName() + "/" + r.getMessageQueue().getQueueId());
            put(name + ".queueOffset", r.getQueueOffset());
            put(name + ".msgId", r.getMsgId());
            put(name + ".offsetMsgId", r.getOffsetMsgId());
            put(name + ".regionId", r.getRegionId());
            put(name + ".traceOn", r.isTraceOn());
            put(name + ".transactionId", r.getTransactionId());
        }

        /** Everything a consumer can read of a delivered message. */
        void message(String name, MessageExt m) {
            put(name + ".topic", m.getTopic());
            put(name + ".queueId", m.getQueueId());
            put(name + ".queueOffset", m.getQueueOffset());
            put(name + ".tags", m.getTags());
            put(name + ".keys", m.getKeys());
            put(name + ".flag", m.getFlag());
            put(name + ".sysFlag", m.getSysFlag());
            put(name + ".reconsumeTimes", m.getReconsumeTimes());
            put(name + ".delayTimeLevel", m.getDelayTimeLevel());
            put(name + ".body", new String(m.getBody(), StandardCharsets.UTF_8));
            put(name + ".bodyCRC", m.getBodyCRC());
            put(name + ".bornHost", Msgs.hostPort(m.getBornHost()));
            put(name + ".storeHost", Msgs.hostPort(m.getStoreHost()));
            put(name + ".bornBeforeStore", m.getBornTimestamp() <= m.getStoreTimestamp());
            put(name + ".msgId", m.getMsgId());
            // A committed transactional message's is its half message's CommitLog offset, which
            // differs with what each broker stored before (and may be 0 on a fresh store).
            boolean committed = (m.getSysFlag() & 0xC) == 0x8;
            put(name + ".preparedTransactionOffset", committed ? "the half message's CommitLog offset" : String.valueOf(m.getPreparedTransactionOffset()));
            for (Map.Entry<String, String> p : new TreeMap<>(m.getProperties()).entrySet()) {
                put(name + ".property." + p.getKey(), p.getValue());
            }
        }

        /** The response code and remark of a refused request, or "ok". */
        void outcome(String name, ThrowingRunnable r) {
            try {
                r.run();
                put(name, "ok");
            } catch (MQBrokerException e) {
                put(name + ".code", e.getResponseCode());
                put(name + ".remark", e.getErrorMessage());
            } catch (MQClientException e) {
                put(name + ".code", e.getResponseCode());
                put(name + ".remark", e.getErrorMessage());
            } catch (Exception e) {
                put(name + ".exception", e.getClass().getSimpleName() + ": " + e.getMessage());
            }
        }
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    /** One intended difference: paths ("scenario/key") it covers, and why. */
    record Intended(Pattern path, String reason) { }

    /**
     * The intended differences: the rows of the table under "## Intended differences" in
     * docs/compatibility.md whose first cell is a backquoted regular expression over
     * "scenario/key".
     */
    static List<Intended> intended() throws IOException {
        Path doc = Paths.get(System.getProperty("compat.repoRoot", "../../.."), "docs", "compatibility.md");
        List<Intended> out = new ArrayList<>();
        boolean in = false;
        Pattern row = Pattern.compile("^\\|\\s*`([^`]+)`\\s*\\|\\s*(.+?)\\s*\\|\\s*$");
        for (String line : Files.readAllLines(doc)) {
            if (line.startsWith("## ")) {
                in = line.startsWith("## Intended differences");
                continue;
            }
            Matcher m = row.matcher(line);
            if (in && m.matches()) {
                // A pipe inside a table cell is written \| in Markdown.
                out.add(new Intended(Pattern.compile(m.group(1).replace("\\|", "|")), m.group(2)));
            }
        }
        if (out.isEmpty()) {
            throw new IllegalStateException(doc.toAbsolutePath() + " has no intended differences table");
        }
        return out;
    }

    /**
     * Compares what the Java broker and rocketry observed. Returns the differences no intended one
     * covers, one line each; prints every difference.
     */
    static List<String> compare(String scenario, Obs java, Obs rocketry, List<Intended> intended) throws IOException {
        Map<String, String> j = java.values();
        Map<String, String> r = rocketry.values();
        Path out = Paths.get(System.getProperty("compat.workRoot", System.getProperty("java.io.tmpdir")), "differential");
        Files.createDirectories(out);
        Files.writeString(out.resolve(scenario + ".java.txt"), lines(j));
        Files.writeString(out.resolve(scenario + ".rocketry.txt"), lines(r));
        TreeSet<String> keys = new TreeSet<>(j.keySet());
        keys.addAll(r.keySet());
        List<String> unexpected = new ArrayList<>();
        for (String k : keys) {
            String a = j.getOrDefault(k, "(absent)");
            String b = r.getOrDefault(k, "(absent)");
            if (a.equals(b)) {
                continue;
            }
            String path = scenario + "/" + k;
            String line = path + ": java " + a + " | rocketry " + b;
            Intended why = intended.stream().filter(i -> i.path().matcher(path).matches()).findFirst().orElse(null);
            if (why == null) {
                unexpected.add(line);
                System.out.println("[differential] DIFFERENT " + line);
            } else {
                System.out.println("[differential] intended  " + line + " (docs/compatibility.md: `" + why.path() + "`)");
            }
        }
        System.out.println("[differential] " + scenario + ": " + keys.size() + " values compared, " + unexpected.size()
            + " unexpected differences");
        return unexpected;
    }

    private static String lines(Map<String, String> m) {
        StringBuilder sb = new StringBuilder();
        m.forEach((k, v) -> sb.append(k).append(" = ").append(v).append('\n'));
        return sb.toString();
    }
}
