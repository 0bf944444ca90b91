package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageId;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.protocol.admin.TopicOffset;
import org.apache.rocketmq.remoting.protocol.admin.TopicStatsTable;
import org.apache.rocketmq.remoting.protocol.body.ClusterInfo;
import org.apache.rocketmq.remoting.protocol.body.KVTable;
import org.apache.rocketmq.remoting.protocol.route.BrokerData;
import org.apache.rocketmq.remoting.protocol.route.QueueData;
import org.apache.rocketmq.remoting.protocol.route.TopicRouteData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (b) Routes and admin operations against `rocketry standalone`, through the producer and the
 * official admin API (DefaultMQAdminExt, what `mqadmin` uses).
 *
 * <p>Request codes exercised: GET_BROKER_CLUSTER_INFO (106), GET_ROUTEINFO_BY_TOPIC (105),
 * GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206), UPDATE_AND_CREATE_TOPIC (17, broker, followed by the
 * broker re-registering its topics with the NameServer: REGISTER_BROKER 103), SEND_MESSAGE_V2 (310),
 * GET_TOPIC_STATS_INFO (202), GET_BROKER_RUNTIME_INFO (28), VIEW_MESSAGE_BY_ID (33),
 * QUERY_MESSAGE (12, by key through the broker's index).
 */
class RoutesAdminTest {
    @RegisterExtension
    static final Harness H = new Harness("routes");

    static final String CLUSTER = "DefaultCluster";
    static final String BROKER = "broker-a";

    static String namesrv;
    static String brokerAddr;
    static int brokerPort;
    static DefaultMQProducer producer;
    static DefaultMQAdminExt admin;
    static long startedAt;

    @BeforeAll
    static void start() throws Exception {
        startedAt = System.currentTimeMillis();
        int[] ports = Rocketry.freePorts(2);
        H.env().standalone("standalone", H.env().newDataDir("data"), ports[0], ports[1]);
        namesrv = Rocketry.LOOPBACK + ":" + ports[0];
        brokerPort = ports[1];
        brokerAddr = Rocketry.LOOPBACK + ":" + brokerPort;
        producer = Clients.producer(H, namesrv);
        admin = Clients.admin(H, namesrv);
        Clients.awaitAutoCreateRoute(H, namesrv, java.util.Set.of(BROKER));
    }

    @Test
    void clusterInfoListsTheBroker() throws Exception {
        ClusterInfo ci = Wait.until("broker-a registered in the cluster info", 10_000,
            () -> admin.examineBrokerClusterInfo(), c -> c.getBrokerAddrTable().containsKey(BROKER));
        assertEquals(Map.of(CLUSTER, Set.of(BROKER)), ci.getClusterAddrTable(), "clusterAddrTable");
        assertEquals(Set.of(BROKER), ci.getBrokerAddrTable().keySet(), "brokerAddrTable");
        BrokerData bd = ci.getBrokerAddrTable().get(BROKER);
        assertEquals(CLUSTER, bd.getCluster());
        assertEquals(BROKER, bd.getBrokerName());
        assertEquals(Map.of(0L, brokerAddr), bd.getBrokerAddrs(), "broker addresses (id 0 = master)");
    }

    @Test
    void autoCreatedTopicHasARoute() throws Exception {
        String topic = Clients.unique("AutoRoute");
        SendResult r = producer.send(Msgs.make(topic, "auto-0", "TagA", 32));
        assertEquals(BROKER, r.getMessageQueue().getBrokerName());

        List<MessageQueue> mqs = Wait.until("publish queues of auto-created " + topic, 10_000,
            () -> producer.fetchPublishMessageQueues(topic), l -> !l.isEmpty());
        // The Java producer asks for defaultTopicQueueNums (4) queues when it auto-creates a topic.
        assertEquals(expectedQueues(topic, BROKER, 4), new TreeSet<>(mqs.stream().map(RoutesAdminTest::fmt).collect(Collectors.toSet())),
            "publish queues of the auto-created topic");

        TopicRouteData route = admin.examineTopicRouteInfo(topic);
        assertOnlyBrokerA(route, 4);
        assertTrue(admin.fetchAllTopicList().getTopicList().contains(topic), "fetchAllTopicList lacks " + topic);
    }

    /** The Java broker registers TBW102 (auto-create on) and, with clusterTopicEnable/brokerTopicEnable (defaults), the cluster and broker names as topics. */
    @Test
    void systemTopicsAreListed() throws Exception {
        Set<String> topics = Wait.until("TBW102 in the topic list", 10_000,
            () -> admin.fetchAllTopicList().getTopicList(), t -> t.contains("TBW102"));
        assertTrue(topics.containsAll(List.of("TBW102", CLUSTER, BROKER)),
            "topic list lacks TBW102 / the cluster-name topic / the broker-name topic: " + topics);
    }

    @Test
    void createdTopicStatsViewAndQuery() throws Exception {
        String topic = Clients.unique("AdminTopic");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 4, 4, 6));
        TopicRouteData route = Wait.until("route of created topic " + topic, 10_000,
            () -> admin.examineTopicRouteInfo(topic),
            rd -> rd.getQueueDatas() != null && !rd.getQueueDatas().isEmpty());
        assertOnlyBrokerA(route, 4);
        assertTrue(admin.fetchAllTopicList().getTopicList().contains(topic), "fetchAllTopicList lacks " + topic);
        List<MessageQueue> mqs = producer.fetchPublishMessageQueues(topic);
        assertEquals(expectedQueues(topic, BROKER, 4), new TreeSet<>(mqs.stream().map(RoutesAdminTest::fmt).collect(Collectors.toSet())));

        // 40 messages (more than one query answer of 32 can hold), a shared key on three of them,
        // message 0 with a body the client compresses.
        String shared = "shared-" + topic;
        Set<Integer> sharedIdx = Set.of(3, 20, 38);
        List<Msgs.Sent> all = new ArrayList<>();
        Map<String, Integer> perQueue = new TreeMap<>();
        for (int i = 0; i < 40; i++) {
            String seq = String.format("adm-%02d", i);
            Message m = sharedIdx.contains(i)
                ? Msgs.make(topic, seq, "TagQ", 50 + i, shared)
                : Msgs.make(topic, seq, i % 2 == 0 ? "TagQ" : null, i == 0 ? 8_000 : 50 + i);
            Msgs.Sent s = Msgs.expect(m);
            SendResult r = producer.send(m);
            Msgs.sentAt(s, m);
            Msgs.record(s, r, topic);
            all.add(s);
            perQueue.merge(fmt(r.getMessageQueue()), 1, Integer::sum);
        }
        Msgs.assertDistinctPositions(all);
        Map<String, Msgs.Sent> sent = Msgs.bySeq(all);
        long sentDone = System.currentTimeMillis();

        // Topic stats: one entry per queue, min 0, max = messages that the send results put there.
        TopicStatsTable stats = admin.examineTopicStats(topic);
        Map<String, String> gotStats = new TreeMap<>();
        Map<String, String> wantStats = new TreeMap<>();
        for (String q : expectedQueues(topic, BROKER, 4)) {
            wantStats.put(q, "min=0 max=" + perQueue.getOrDefault(q, 0));
        }
        for (Map.Entry<MessageQueue, TopicOffset> e : stats.getOffsetTable().entrySet()) {
            TopicOffset o = e.getValue();
            gotStats.put(fmt(e.getKey()), "min=" + o.getMinOffset() + " max=" + o.getMaxOffset());
            if (o.getMaxOffset() > 0) {
                assertTrue(o.getLastUpdateTimestamp() >= startedAt - 1000 && o.getLastUpdateTimestamp() <= sentDone + 1000,
                    "lastUpdateTimestamp of " + e.getKey() + " (store time of its last message) = " + o.getLastUpdateTimestamp()
                        + ", sends ran in [" + startedAt + ", " + sentDone + "]");
            }
        }
        assertEquals(wantStats, gotStats, "examineTopicStats offsets (per queue, from the send results)");

        // viewMessage by offsetMsgId: the id encodes the broker's address and the CommitLog offset.
        for (int i : new int[] {0, 7, 39}) {
            Msgs.Sent s = sent.get(String.format("adm-%02d", i));
            MessageId id = MessageDecoder.decodeMessageId(s.offsetMsgId);
            assertEquals(brokerAddr, Msgs.hostPort(id.getAddress()), "address encoded in offsetMsgId " + s.offsetMsgId);
            assertTrue(id.getOffset() >= 0, "CommitLog offset in offsetMsgId");
            assertTrue(((InetSocketAddress) id.getAddress()).getAddress().isLoopbackAddress());
            MessageExt m = admin.viewMessage(topic, s.offsetMsgId);
            assertNotNull(m, "viewMessage(" + s.offsetMsgId + ")");
            Received one = new Received();
            one.add(m);
            m.setBrokerName(BROKER);
            Msgs.assertExactly("viewMessage " + s.seq, Map.of(s.seq, s), one, Map.of(BROKER, brokerAddr));
            assertEquals(id.getOffset(), m.getCommitLogOffset(), "commitLogOffset of the viewed message");
        }

        // queryMessage by key (through the broker's index; it may lag the send a little).
        Map<String, Map<String, Msgs.Sent>> queries = new LinkedHashMap<>();
        queries.put("k-adm-35", Map.of("adm-35", sent.get("adm-35")));
        queries.put("ключ-adm-07", Map.of("adm-07", sent.get("adm-07")));
        queries.put("k-adm-00", Map.of("adm-00", sent.get("adm-00")));
        Map<String, Msgs.Sent> sharedWant = new HashMap<>();
        for (int i : sharedIdx) {
            String seq = String.format("adm-%02d", i);
            sharedWant.put(seq, sent.get(seq));
        }
        queries.put(shared, sharedWant);
        for (Map.Entry<String, Map<String, Msgs.Sent>> q : queries.entrySet()) {
            QueryResult qr = Wait.until("queryMessage(" + q.getKey() + ") to find " + q.getValue().keySet(), 10_000,
                () -> admin.queryMessage(topic, q.getKey(), 32, 0, Long.MAX_VALUE),
                res -> res.getMessageList().stream().map(m -> m.getUserProperty(Msgs.SEQ)).collect(Collectors.toSet())
                    .containsAll(q.getValue().keySet()));
            Received got = new Received();
            for (MessageExt m : qr.getMessageList()) {
                m.setBrokerName(BROKER);
                got.add(m);
            }
            Msgs.assertExactly("queryMessage(" + q.getKey() + ")", q.getValue(), got, Map.of(BROKER, brokerAddr));
        }
    }

    /** The keys `mqadmin clusterList` / `brokerStatus` read from GET_BROKER_RUNTIME_INFO, parseable as they parse them. */
    @Test
    void brokerRuntimeStats() throws Exception {
        producer.send(Msgs.make(Clients.unique("Stats"), "stats-0", null, 16));
        KVTable kv = admin.fetchBrokerRuntimeStats(brokerAddr);
        assertNotNull(kv);
        Map<String, String> t = kv.getTable();
        assertNotNull(t);
        List<String> problems = new ArrayList<>();
        for (String k : List.of("brokerVersionDesc", "brokerVersion", "putTps", "getTransferredTps", "msgPutTotalTodayNow",
            "msgGetTotalTodayNow", "msgPutTotalTodayMorning", "msgGetTotalTodayMorning", "msgPutTotalYesterdayMorning",
            "msgGetTotalYesterdayMorning", "earliestMessageTimeStamp", "commitLogDiskRatio", "sendThreadPoolQueueSize",
            "pullThreadPoolQueueSize", "pageCacheLockTimeMills")) {
            if (t.get(k) == null || t.get(k).isBlank()) {
                problems.add("missing " + k);
            }
        }
        tryParse(problems, t, "brokerVersion", v -> Integer.parseInt(v));
        for (String k : List.of("msgPutTotalTodayNow", "msgGetTotalTodayNow", "msgPutTotalTodayMorning", "msgGetTotalTodayMorning",
            "msgPutTotalYesterdayMorning", "msgGetTotalYesterdayMorning", "earliestMessageTimeStamp")) {
            tryParse(problems, t, k, Long::parseLong);
        }
        tryParse(problems, t, "putTps", v -> Double.parseDouble(v.split(" ")[0]));
        tryParse(problems, t, "getTransferredTps", v -> Double.parseDouble(v.split(" ")[0]));
        tryParse(problems, t, "commitLogDiskRatio", Double::parseDouble);
        assertTrue(problems.isEmpty(), "GET_BROKER_RUNTIME_INFO: " + problems + "\nfull table: " + new TreeMap<>(t));
        assertTrue(Long.parseLong(t.get("msgPutTotalTodayNow")) >= 1, "msgPutTotalTodayNow after a send: " + t.get("msgPutTotalTodayNow"));
    }

    private static void tryParse(List<String> problems, Map<String, String> t, String k, java.util.function.Function<String, ?> parse) {
        String v = t.get(k);
        if (v == null) {
            return;
        }
        try {
            parse.apply(v);
        } catch (RuntimeException e) {
            problems.add(k + "=" + v + " does not parse: " + e);
        }
    }

    static String fmt(MessageQueue mq) {
        return mq.getTopic() + "/" + mq.getBrokerName() + "/" + mq.getQueueId();
    }

    static TreeSet<String> expectedQueues(String topic, String broker, int n) {
        TreeSet<String> s = new TreeSet<>();
        for (int i = 0; i < n; i++) {
            s.add(topic + "/" + broker + "/" + i);
        }
        return s;
    }

    static void assertOnlyBrokerA(TopicRouteData route, int queues) {
        assertNotNull(route);
        assertEquals(1, route.getBrokerDatas().size(), "brokerDatas: " + route.getBrokerDatas());
        BrokerData bd = route.getBrokerDatas().get(0);
        assertEquals(BROKER, bd.getBrokerName());
        assertEquals(CLUSTER, bd.getCluster());
        assertEquals(Map.of(0L, brokerAddr), bd.getBrokerAddrs());
        assertEquals(1, route.getQueueDatas().size(), "queueDatas: " + route.getQueueDatas());
        QueueData qd = route.getQueueDatas().get(0);
        assertEquals(BROKER, qd.getBrokerName());
        assertEquals(queues, qd.getReadQueueNums(), "readQueueNums");
        assertEquals(queues, qd.getWriteQueueNums(), "writeQueueNums");
        assertEquals(6, qd.getPerm(), "perm (read|write)");
    }
}
