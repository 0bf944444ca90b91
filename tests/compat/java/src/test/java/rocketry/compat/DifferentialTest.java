package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.rocketmq.client.consumer.DefaultMQPullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.PullResult;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.client.impl.MQClientAPIImpl;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.protocol.admin.ConsumeStats;
import org.apache.rocketmq.remoting.protocol.admin.OffsetWrapper;
import org.apache.rocketmq.remoting.protocol.admin.TopicStatsTable;
import org.apache.rocketmq.remoting.protocol.header.QueryConsumerOffsetRequestHeader;
import org.apache.rocketmq.remoting.protocol.route.BrokerData;
import org.apache.rocketmq.remoting.protocol.route.QueueData;
import org.apache.rocketmq.remoting.protocol.route.TopicRouteData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import rocketry.compat.Differential.Obs;
import rocketry.compat.Differential.Target;

/**
 * The differential harness: each scenario runs with the official Java client against the Java
 * 5.3.3 broker and against rocketry at the same time, records everything the client can observe
 * ({@link Obs}), and fails on any difference that docs/compatibility.md does not list as intended.
 * Both brokers are started once for the class, and the scenarios (independent: each its own
 * topics and groups) run side by side. The records are written to
 * target/compat-work/differential/ for reading.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
@Execution(ExecutionMode.CONCURRENT)
class DifferentialTest {
    @RegisterExtension
    static final Harness H = new Harness("differential");

    /** Runs each scenario's two sides at once. */
    private static final ExecutorService SIDES = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "differential-side");
        t.setDaemon(true);
        return t;
    });

    private static Target java;
    private static Target rocketry;
    private static List<Differential.Intended> intended;

    interface Scenario {
        void run(Target t, Obs o) throws Exception;
    }

    @BeforeAll
    static void start() throws Exception {
        intended = Differential.intended();
        CompletableFuture<Target> j = CompletableFuture.supplyAsync(() -> {
            try {
                return Differential.javaBroker(H);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Clients.Addrs r = Clients.standalone(H, Differential.COMMON_CONF);
        rocketry = new Target("rocketry", r.namesrv(), r.brokerAddr());
        java = j.get(90, TimeUnit.SECONDS);
    }

    /** Runs the scenario against both brokers at once and compares what each observed. */
    private static void both(String name, Scenario s) throws Exception {
        Obs jo = new Obs(java);
        Obs ro = new Obs(rocketry);
        // Threads of their own: the common pool has one thread on a 2-core machine.
        CompletableFuture<Void> j = CompletableFuture.runAsync(() -> run(s, java, jo), SIDES);
        CompletableFuture<Void> r = CompletableFuture.runAsync(() -> run(s, rocketry, ro), SIDES);
        j.get(100, TimeUnit.SECONDS);
        r.get(100, TimeUnit.SECONDS);
        List<String> unexpected = Differential.compare(name, jo, ro, intended);
        assertTrue(unexpected.isEmpty(), name + ": the Java broker and rocketry differ where no intended difference "
            + "(docs/compatibility.md) says they may:\n  " + String.join("\n  ", unexpected));
    }

    private static void run(Scenario s, Target t, Obs o) {
        try {
            s.run(t, o);
        } catch (Exception e) {
            throw new IllegalStateException(t.name() + ": " + e, e);
        }
    }

    // ---- helpers shared by the scenarios

    private static DefaultMQAdminExt admin(Target t) throws Exception {
        return Clients.admin(H, t.namesrv());
    }

    private static void createTopic(DefaultMQAdminExt a, Target t, String topic, int queues, int perm) throws Exception {
        TopicConfig c = new TopicConfig(topic, queues, queues, perm);
        a.createAndUpdateTopicConfig(t.brokerAddr(), c);
        Clients.awaitRoute(a, topic);
    }

    private static DefaultMQProducer producer(Target t) throws Exception {
        return Clients.producer(H, t.namesrv());
    }

    private static SendResult sendTo(DefaultMQProducer p, Message m, int queue) throws Exception {
        return p.send(m, new MessageQueue(m.getTopic(), "broker-a", queue));
    }

    private static Message msg(String topic, String tags, String keys, String body) {
        Message m = new Message(topic, tags, keys, body.getBytes(StandardCharsets.UTF_8));
        m.putUserProperty("seq", body);
        return m;
    }

    /** Waits until at least n messages arrived, then a little longer for any extra delivery. */
    private static List<MessageExt> await(ConcurrentLinkedQueue<MessageExt> got, int n, long timeoutMs) throws Exception {
        Wait.until(n + " deliveries", timeoutMs, got::size, s -> s >= n);
        Thread.sleep(500);
        List<MessageExt> l = new ArrayList<>(got);
        l.sort(Comparator.comparing((MessageExt m) -> m.getUserProperty("seq") == null ? "" : m.getUserProperty("seq"))
            .thenComparingInt(MessageExt::getReconsumeTimes).thenComparing(MessageExt::getTopic)
            .thenComparingInt(MessageExt::getQueueId).thenComparingLong(MessageExt::getQueueOffset));
        return l;
    }

    private static DefaultMQPushConsumer consume(Target t, String group, String topic, String expr,
        ConcurrentLinkedQueue<MessageExt> got, ConsumeFromWhere from) throws Exception {
        return Clients.pushWith(H, t.namesrv(), group, topic, (MessageListenerConcurrently) (msgs, ctx) -> {
            got.addAll(msgs);
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        }, c -> {
            c.setConsumeFromWhere(from);
            c.setConsumeTimestamp("20200101000000");
            try {
                c.subscribe(topic, expr);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private static void route(Obs o, String name, TopicRouteData r) {
        for (QueueData q : r.getQueueDatas()) {
            o.put(name + ".queueData." + q.getBrokerName(), "read " + q.getReadQueueNums() + " write " + q.getWriteQueueNums()
                + " perm " + q.getPerm() + " sysFlag " + q.getTopicSysFlag());
        }
        for (BrokerData b : r.getBrokerDatas()) {
            o.put(name + ".brokerData." + b.getBrokerName(), b.getCluster() + " " + new TreeMap<>(b.getBrokerAddrs()));
        }
        o.put(name + ".orderTopicConf", r.getOrderTopicConf());
        o.put(name + ".filterServerTable", r.getFilterServerTable());
    }

    private static void topicStats(Obs o, String name, TopicStatsTable s) {
        new TreeMap<>(s.getOffsetTable()).forEach((mq, off) -> o.put(name + "." + mq.getBrokerName() + "/" + mq.getQueueId(),
            "min " + off.getMinOffset() + " max " + off.getMaxOffset() + " lastUpdate " + (off.getLastUpdateTimestamp() > 0
                ? String.valueOf(off.getLastUpdateTimestamp()) : "0")));
    }

    /**
     * A group's consume stats, but for its retry queue: both brokers hold a pull of an empty
     * queue (15 s asked, Java answers within 5 s after that), and only then does the client
     * commit offset 0 there, so whether that row is in yet is a matter of timing.
     */
    private static void consumeStats(Obs o, String name, ConsumeStats s) {
        for (Map.Entry<MessageQueue, OffsetWrapper> e : new TreeMap<>(s.getOffsetTable()).entrySet()) {
            if (e.getKey().getTopic().startsWith("%RETRY%")) {
                continue;
            }
            OffsetWrapper w = e.getValue();
            o.put(name + "." + e.getKey().getTopic() + "/" + e.getKey().getQueueId(), "broker " + w.getBrokerOffset()
                + " consumer " + w.getConsumerOffset() + " pullOffset " + w.getPullOffset() + " lastTimestamp "
                + (w.getLastTimestamp() > 0 ? String.valueOf(w.getLastTimestamp()) : String.valueOf(w.getLastTimestamp())));
        }
        o.put(name + ".diffTotal", s.computeTotalDiff());
    }

    /** Every delivered message, by its seq property, and how many there were. */
    private static void deliveries(Obs o, List<MessageExt> l) {
        o.put("deliveries", l.size());
        for (MessageExt m : l) {
            o.message("recv." + m.getUserProperty("seq"), m);
        }
    }

    /** The group's consume stats once it has committed offsets of the topic's queues, all caught up. */
    private static ConsumeStats committed(DefaultMQAdminExt a, String group, String topic) throws Exception {
        return Wait.until("offsets of " + topic + " committed", 20_000, () -> a.examineConsumeStats(group),
            c -> c.getOffsetTable().keySet().stream().anyMatch(mq -> mq.getTopic().equals(topic)) && c.computeTotalDiff() == 0);
    }

    private static MQClientAPIImpl api(DefaultMQAdminExt a) {
        return a.getDefaultMQAdminExtImpl().getMqClientInstance().getMQClientAPIImpl();
    }

    private static long queryOffset(DefaultMQAdminExt a, Target t, String group, String topic, int queue, Boolean zeroIfNotFound)
        throws Exception {
        QueryConsumerOffsetRequestHeader h = new QueryConsumerOffsetRequestHeader();
        h.setConsumerGroup(group);
        h.setTopic(topic);
        h.setQueueId(queue);
        h.setSetZeroIfNotFound(zeroIfNotFound);
        return api(a).queryConsumerOffset(t.brokerAddr(), h, 5000);
    }

    // ---- scenarios

    /** Sends to chosen queues, with tags, keys and a user property; a push consumer receives them; routes, topic and consume stats. */
    @Test
    void plainSendAndConsume() throws Exception {
        both("plain", (t, o) -> {
            String topic = "DiffPlain";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 4, 6);
            route(o, "route", a.examineTopicRouteInfo(topic));
            DefaultMQProducer p = producer(t);
            for (int i = 0; i < 8; i++) {
                Message m = msg(topic, "Tag" + (i % 2), "key" + i + " other" + i, "plain" + i);
                m.putUserProperty("color", i % 3 == 0 ? "red" : "blue");
                o.sent("send" + i, sendTo(p, m, i % 4));
            }
            topicStats(o, "topicStats", a.examineTopicStats(topic));
            ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
            consume(t, "DiffPlainGroup", topic, "*", got, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            List<MessageExt> l = await(got, 8, 30_000);
            deliveries(o, l);
            consumeStats(o, "consumeStats", committed(a, "DiffPlainGroup", topic));
        });
    }

    /** A batch to one queue: its send result (ids, first offset) and each message as delivered. */
    @Test
    void batchSend() throws Exception {
        both("batch", (t, o) -> {
            String topic = "DiffBatch";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 2, 6);
            DefaultMQProducer p = producer(t);
            List<Message> batch = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                batch.add(msg(topic, "TagB", "bkey" + i, "batch" + i));
            }
            SendResult r = p.send(batch, new MessageQueue(topic, "broker-a", 1));
            String[] ids = r.getMsgId().split(",");
            for (int i = 0; i < ids.length; i++) {
                o.nameId(ids[i], "batch" + i + ".msgId");
            }
            String[] offsetIds = r.getOffsetMsgId().split(",");
            for (int i = 0; i < offsetIds.length; i++) {
                o.nameId(offsetIds[i], "batch" + i + ".offsetMsgId");
            }
            o.sent("send", r);
            ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
            consume(t, "DiffBatchGroup", topic, "*", got, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            for (MessageExt m : await(got, 4, 30_000)) {
                o.message("recv." + m.getUserProperty("seq"), m);
            }
        });
    }

    /** Tag-filtered consumption: which messages a "TagA || TagC" subscriber gets, and its offsets after. */
    @Test
    void tagFilter() throws Exception {
        both("tags", (t, o) -> {
            String topic = "DiffTags";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 1, 6);
            DefaultMQProducer p = producer(t);
            String[] tags = {"TagA", "TagB", "TagC", "TagA", null, "TagC"};
            for (int i = 0; i < tags.length; i++) {
                o.sent("send" + i, sendTo(p, msg(topic, tags[i], null, "tags" + i), 0));
            }
            ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
            consume(t, "DiffTagsGroup", topic, "TagA || TagC", got, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            List<MessageExt> l = await(got, 4, 30_000);
            deliveries(o, l);
            consumeStats(o, "consumeStats", committed(a, "DiffTagsGroup", topic));
        });
    }

    /** Orderly consumption of one queue: the delivered order and each message's fields. */
    @Test
    void orderly() throws Exception {
        both("orderly", (t, o) -> {
            String topic = "DiffOrderly";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 2, 6);
            DefaultMQProducer p = producer(t);
            for (int i = 0; i < 6; i++) {
                o.sent("send" + i, p.send(msg(topic, "TagO", "okey" + i, "orderly" + i), (mqs, m, arg) -> mqs.get((Integer) arg % 2), i));
            }
            ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
            List<String> order = Collections.synchronizedList(new ArrayList<>());
            Clients.pushWith(H, t.namesrv(), "DiffOrderlyGroup", topic, (MessageListenerOrderly) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    order.add(m.getQueueId() + ":" + m.getUserProperty("seq"));
                }
                got.addAll(msgs);
                return ConsumeOrderlyStatus.SUCCESS;
            }, c -> { });
            List<MessageExt> l = await(got, 6, 30_000);
            for (int q = 0; q < 2; q++) {
                String prefix = q + ":";
                o.put("order.queue" + q, order.stream().filter(s -> s.startsWith(prefix)).toList());
            }
            for (MessageExt m : l) {
                o.message("recv." + m.getUserProperty("seq"), m);
            }
        });
    }

    /** Delay levels: the send result, and the delivered message's markers (DELAY, REAL_TOPIC, REAL_QID). */
    @Test
    void delayLevels() throws Exception {
        both("delay", (t, o) -> {
            String topic = "DiffDelay";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 4, 6);
            DefaultMQProducer p = producer(t);
            Message one = msg(topic, "TagD", "dkey1", "delay1");
            one.setDelayTimeLevel(1);
            o.sent("send.level1", sendTo(p, one, 2));
            Message zero = msg(topic, "TagD", "dkey0", "delay0");
            zero.setDelayTimeLevel(0);
            o.sent("send.level0", sendTo(p, zero, 2));
            Message beyond = msg(topic, "TagD", "dkey99", "delay99");
            beyond.setDelayTimeLevel(99);
            o.sent("send.level99", sendTo(p, beyond, 3));
            ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
            consume(t, "DiffDelayGroup", topic, "*", got, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            List<MessageExt> l = await(got, 2, 30_000);
            deliveries(o, l);
            topicStats(o, "topicStats", a.examineTopicStats(topic));
        });
    }

    /**
     * Retries and the DLQ: a consumer that fails every delivery (next delay level 1, two reconsumes
     * allowed) sees three deliveries; then the message is in the group's DLQ. Every delivery's and
     * the DLQ copy's fields, and the retry and DLQ topics' configs.
     */
    @Test
    void retryAndDeadLetter() throws Exception {
        both("retry", (t, o) -> {
            String topic = "DiffRetry";
            String group = "DiffRetryGroup";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 1, 6);
            DefaultMQProducer p = producer(t);
            o.sent("send", sendTo(p, msg(topic, "TagR", "rkey", "retry0"), 0));
            ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
            Clients.pushWith(H, t.namesrv(), group, topic, (MessageListenerConcurrently) (msgs, ctx) -> {
                got.addAll(msgs);
                ctx.setDelayLevelWhenNextConsume(1);
                return ConsumeConcurrentlyStatus.RECONSUME_LATER;
            }, c -> c.setMaxReconsumeTimes(2));
            List<MessageExt> l = await(got, 3, 40_000);
            o.put("deliveries", l.size());
            for (MessageExt m : l) {
                o.message("delivery" + m.getReconsumeTimes(), m);
            }
            String dlq = "%DLQ%" + group;
            Wait.until("a message in " + dlq, 30_000, () -> a.examineTopicStats(dlq),
                s -> s.getOffsetTable().values().stream().anyMatch(w -> w.getMaxOffset() > 0));
            for (String name : new String[] {"%RETRY%" + group, dlq}) {
                TopicConfig c = a.examineTopicConfig(t.brokerAddr(), name);
                o.put("topicConfig." + name, "read " + c.getReadQueueNums() + " write " + c.getWriteQueueNums() + " perm "
                    + c.getPerm() + " sysFlag " + c.getTopicSysFlag() + " order " + c.isOrder());
            }
            o.outcome("dlqPull", () -> {
                PullResult r = pullFromStart(t, dlq, 0);
                o.put("dlqPull.status", r.getPullStatus());
                o.put("dlqPull.nextBeginOffset", r.getNextBeginOffset());
                o.put("dlqPull.minOffset", r.getMinOffset());
                o.put("dlqPull.maxOffset", r.getMaxOffset());
                if (r.getMsgFoundList() != null) {
                    for (MessageExt m : r.getMsgFoundList()) {
                        o.message("dlq." + m.getQueueOffset(), m);
                    }
                }
            });
        });
    }

    /**
     * Offsets a new group is told, on an empty queue, a queue with messages and an unknown topic;
     * min/max/search-by-time/earliest-time answers; then where CONSUME_FROM_LAST/FIRST/TIMESTAMP
     * consumers of new groups start.
     */
    @Test
    void offsetsOfNewGroups() throws Exception {
        both("offsets", (t, o) -> {
            String topic = "DiffOffsets";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 2, 6);
            DefaultMQProducer p = producer(t);
            List<SendResult> sent = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                sent.add(sendTo(p, msg(topic, "TagF", null, "old" + i), 1));
                Thread.sleep(20);
            }
            MQClientAPIImpl api = api(a);
            for (String tp : new String[] {topic, "DiffNoSuchTopic"}) {
                for (int q = 0; q < 3; q++) {
                    MessageQueue mq = new MessageQueue(tp, "broker-a", q);
                    String k = tp + "/" + q;
                    final int qq = q;
                    o.outcome("queryOffset." + k, () -> o.put("queryOffset." + k + ".value", queryOffset(a, t, "DiffNewGroup", tp, qq, null)));
                    o.outcome("queryOffsetZero." + k, () -> o.put("queryOffsetZero." + k + ".value",
                        queryOffset(a, t, "DiffNewGroup", tp, qq, true)));
                    o.outcome("queryOffsetNoZero." + k, () -> o.put("queryOffsetNoZero." + k + ".value",
                        queryOffset(a, t, "DiffNewGroup", tp, qq, false)));
                    o.outcome("max." + k, () -> o.put("max." + k + ".value", api.getMaxOffset(t.brokerAddr(), mq, 5000)));
                    o.outcome("min." + k, () -> o.put("min." + k + ".value", api.getMinOffset(t.brokerAddr(), mq, 5000)));
                    o.outcome("earliest." + k, () -> o.put("earliest." + k + ".value",
                        api.getEarliestMsgStoretime(t.brokerAddr(), mq, 5000)));
                    for (long ts : new long[] {0, Long.MAX_VALUE / 2}) {
                        o.outcome("search." + k + "@" + ts, () -> o.put("search." + k + "@" + ts + ".value",
                            api.searchOffset(t.brokerAddr(), mq, ts, 5000)));
                    }
                }
            }
            // Search by each stored message's own time, both boundaries.
            List<MessageExt> stored = Objects.requireNonNullElse(pullFromStart(t, topic, 1).getMsgFoundList(), List.of());
            for (MessageExt m : stored) {
                MessageQueue mq = new MessageQueue(topic, "broker-a", 1);
                for (org.apache.rocketmq.common.BoundaryType b : org.apache.rocketmq.common.BoundaryType.values()) {
                    o.put("searchOwnTime." + m.getQueueOffset() + "." + b, api.searchOffset(t.brokerAddr(), mq, m.getStoreTimestamp(), b, 5000));
                }
            }
            for (ConsumeFromWhere from : new ConsumeFromWhere[] {ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
                ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, ConsumeFromWhere.CONSUME_FROM_TIMESTAMP}) {
                ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
                String group = "DiffFrom" + from.name().replace("CONSUME_FROM_", "").replace("_", "");
                DefaultMQPushConsumer c = consume(t, group, topic, "*", got, from);
                Wait.until(group + " holds its queues", 20_000,
                    () -> c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet().stream()
                        .filter(mq -> mq.getTopic().equals(topic)).count(),
                    n -> n == 2);
                Thread.sleep(1500);
                SendResult r = sendTo(p, msg(topic, "TagF", null, "new-" + from.name()), 1);
                List<MessageExt> l = await(got, 1, 20_000);
                o.put("from." + from.name(), l.stream().map(m -> m.getUserProperty("seq") + "@" + m.getQueueOffset()).sorted().toList());
                c.shutdown();
                o.put("sentOffset." + from.name(), r.getQueueOffset());
            }
        });
    }

    /**
     * Request-reply: the request as the replier receives it, and the reply as the requester's
     * callback gets it (the broker pushes it to the requesting client).
     */
    @Test
    void requestReply() throws Exception {
        both("reply", (t, o) -> {
            String topic = "DiffRequest";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 1, 6);
            DefaultMQProducer replier = producer(t);
            ConcurrentLinkedQueue<MessageExt> requests = new ConcurrentLinkedQueue<>();
            DefaultMQPushConsumer server = Clients.pushWith(H, t.namesrv(), "DiffReplyServer", topic,
                (MessageListenerConcurrently) (msgs, ctx) -> {
                    for (MessageExt m : msgs) {
                        requests.add(m);
                        try {
                            Message reply = org.apache.rocketmq.client.utils.MessageUtil.createReplyMessage(m,
                                ("answer to " + new String(m.getBody(), StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
                            o.outcome("replySend", () -> replier.send(reply, 5000));
                        } catch (Exception e) {
                            o.put("createReply.exception", e.getClass().getSimpleName());
                        }
                    }
                    return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
                }, c -> { });
            Wait.until("the replier placed the topic's queues", 30_000,
                () -> server.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet().stream()
                    .filter(mq -> mq.getTopic().equals(topic)).count(), n -> n > 0);
            DefaultMQProducer requester = new DefaultMQProducer("DiffRequester");
            requester.setNamesrvAddr(t.namesrv());
            requester.setInstanceName("diff-requester-" + t.name());
            requester.setClientIP(Rocketry.LOOPBACK);
            requester.start();
            H.track(requester::shutdown);
            Message request = msg(topic, "TagQ", "qkey", "question");
            CompletableFuture<Message> reply = new CompletableFuture<>();
            requester.request(request, new org.apache.rocketmq.client.producer.RequestCallback() {
                @Override
                public void onSuccess(Message m) {
                    if (m != null) {
                        reply.complete(m);
                    }
                }

                @Override
                public void onException(Throwable e) {
                    reply.completeExceptionally(e);
                }
            }, 20_000);
            Message m = reply.get(30, TimeUnit.SECONDS);
            for (MessageExt r : await(requests, 1, 10_000)) {
                o.message("request", r);
            }
            o.put("reply.topic", m.getTopic());
            o.put("reply.body", new String(m.getBody(), StandardCharsets.UTF_8));
            o.put("reply.flag", m.getFlag());
            for (Map.Entry<String, String> e : new TreeMap<>(m.getProperties()).entrySet()) {
                o.put("reply.property." + e.getKey(), e.getValue());
            }
        });
    }

    /** Broadcasting: two consumers of one group each get every message; what the broker says of the group. */
    @Test
    void broadcast() throws Exception {
        both("broadcast", (t, o) -> {
            String topic = "DiffBroadcast";
            String group = "DiffBroadcastGroup";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 2, 6);
            // Sent before the consumers start (broadcasting consumers new to their queues start
            // from the first offset): what each pull finds, and so MAX_OFFSET, is then fixed.
            DefaultMQProducer p = producer(t);
            for (int i = 0; i < 4; i++) {
                o.sent("send" + i, sendTo(p, msg(topic, "TagW", null, "broadcast" + i), i % 2));
            }
            List<ConcurrentLinkedQueue<MessageExt>> got = List.of(new ConcurrentLinkedQueue<>(), new ConcurrentLinkedQueue<>());
            for (ConcurrentLinkedQueue<MessageExt> q : got) {
                Clients.pushWith(H, t.namesrv(), group, topic, (MessageListenerConcurrently) (msgs, ctx) -> {
                    q.addAll(msgs);
                    return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
                }, c -> c.setMessageModel(org.apache.rocketmq.remoting.protocol.heartbeat.MessageModel.BROADCASTING));
            }
            for (int c = 0; c < 2; c++) {
                List<MessageExt> l = await(got.get(c), 4, 30_000);
                o.put("consumer" + c + ".deliveries", l.size());
                for (MessageExt m : l) {
                    o.message("consumer" + c + "." + m.getUserProperty("seq"), m);
                }
            }
            o.outcome("consumeStats", () -> consumeStats(o, "consumeStats", a.examineConsumeStats(group)));
            o.outcome("consumerConnection", () -> {
                var cc = a.examineConsumerConnectionInfo(group);
                o.put("consumerConnection.count", cc.getConnectionSet().size());
                o.put("consumerConnection.model", cc.getMessageModel());
                o.put("consumerConnection.type", cc.getConsumeType());
                o.put("consumerConnection.from", cc.getConsumeFromWhere());
                o.put("consumerConnection.subscriptions", new TreeMap<>(cc.getSubscriptionTable()).keySet());
            });
        });
    }

    /**
     * Transactions: a committed, a rolled-back and an undecided message whose check-back commits
     * it. The send results, what the check-back hands the producer, what a consumer gets.
     */
    @Test
    void transactions() throws Exception {
        both("transaction", (t, o) -> {
            String topic = "DiffTx";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 1, 6);
            ConcurrentLinkedQueue<MessageExt> checks = new ConcurrentLinkedQueue<>();
            org.apache.rocketmq.client.producer.TransactionMQProducer p =
                new org.apache.rocketmq.client.producer.TransactionMQProducer("DiffTxProducer");
            p.setNamesrvAddr(t.namesrv());
            p.setInstanceName("diff-tx-" + t.name());
            p.setClientIP(Rocketry.LOOPBACK);
            p.setTransactionListener(new org.apache.rocketmq.client.producer.TransactionListener() {
                @Override
                public org.apache.rocketmq.client.producer.LocalTransactionState executeLocalTransaction(Message m, Object arg) {
                    switch (new String(m.getBody(), StandardCharsets.UTF_8)) {
                        case "commit":
                            return org.apache.rocketmq.client.producer.LocalTransactionState.COMMIT_MESSAGE;
                        case "rollback":
                            return org.apache.rocketmq.client.producer.LocalTransactionState.ROLLBACK_MESSAGE;
                        default:
                            return org.apache.rocketmq.client.producer.LocalTransactionState.UNKNOW;
                    }
                }

                @Override
                public org.apache.rocketmq.client.producer.LocalTransactionState checkLocalTransaction(MessageExt m) {
                    checks.add(m);
                    return org.apache.rocketmq.client.producer.LocalTransactionState.COMMIT_MESSAGE;
                }
            });
            p.start();
            H.track(p::shutdown);
            for (String body : new String[] {"commit", "rollback", "check"}) {
                org.apache.rocketmq.client.producer.TransactionSendResult r =
                    p.sendMessageInTransaction(msg(topic, "TagT", "tk-" + body, body), null);
                o.sent("send." + body, r);
                o.put("send." + body + ".localTransactionState", r.getLocalTransactionState());
            }
            ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
            consume(t, "DiffTxConsumer", topic, "*", got, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            List<MessageExt> l = await(got, 2, 60_000);
            deliveries(o, l);
            MessageExt check = Wait.until("a check-back", 30_000, checks::peek, Objects::nonNull);
            o.message("checkBack", check);
            topicStats(o, "topicStats", a.examineTopicStats(topic));
        });
    }

    /** 5.x timer messages: delivered after their time with their markers; a time past the limit is refused. */
    @Test
    void timers() throws Exception {
        both("timer", (t, o) -> {
            String topic = "DiffTimer";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 2, 6);
            DefaultMQProducer p = producer(t);
            long due = System.currentTimeMillis() + 2_000;
            Message m = msg(topic, "TagTm", "tmkey", "timer0");
            m.setDeliverTimeMs(due);
            o.sent("send", sendTo(p, m, 1));
            Message far = msg(topic, "TagTm", null, "timer-far");
            far.setDeliverTimeMs(System.currentTimeMillis() + 4L * 24 * 3600 * 1000);
            o.outcome("sendBeyondMax", () -> o.sent("sendBeyondMax", sendTo(p, far, 1)));
            ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
            consume(t, "DiffTimerGroup", topic, "*", got, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            List<MessageExt> l = await(got, 1, 30_000);
            o.put("deliveries", l.size());
            for (MessageExt r : l) {
                o.message("recv." + r.getUserProperty("seq"), r);
                o.put("recv." + r.getUserProperty("seq") + ".storedAfterDue", r.getStoreTimestamp() >= due - 100);
            }
            topicStats(o, "topicStats", a.examineTopicStats(topic));
        });
    }

    /** SQL92 filters (enablePropertyFilter on both): what a selector gets; a selector that does not parse. */
    @Test
    void sql92() throws Exception {
        both("sql92", (t, o) -> {
            String topic = "DiffSql";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 1, 6);
            DefaultMQProducer p = producer(t);
            for (int i = 0; i < 8; i++) {
                Message m = msg(topic, i % 2 == 0 ? "TagE" : "TagO", null, "sql" + i);
                m.putUserProperty("n", String.valueOf(i));
                if (i % 3 == 0) {
                    m.putUserProperty("color", "red");
                }
                o.sent("send" + i, sendTo(p, m, 0));
            }
            ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
            Clients.pushWith(H, t.namesrv(), "DiffSqlGroup", topic, (MessageListenerConcurrently) (msgs, ctx) -> {
                got.addAll(msgs);
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            }, c -> {
                try {
                    c.subscribe(topic, org.apache.rocketmq.client.consumer.MessageSelector.bySql(
                        "(n BETWEEN 2 AND 6 AND color IS NULL) OR TAGS = 'TagE' AND n > 5"));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            List<MessageExt> l = await(got, 4, 30_000);
            o.put("delivered", l.stream().map(m -> m.getUserProperty("seq")).sorted().toList());
            for (MessageExt m : l) {
                o.message("recv." + m.getUserProperty("seq"), m);
            }
            consumeStats(o, "consumeStats", committed(a, "DiffSqlGroup", topic));
            o.outcome("badSelector", () -> {
                DefaultMQPushConsumer c = new DefaultMQPushConsumer("DiffSqlBadGroup");
                c.setNamesrvAddr(t.namesrv());
                c.setInstanceName("diff-sql-bad-" + t.name());
                c.subscribe(topic, org.apache.rocketmq.client.consumer.MessageSelector.bySql("n >"));
                c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> ConsumeConcurrentlyStatus.CONSUME_SUCCESS);
                try {
                    c.start();
                } finally {
                    c.shutdown();
                }
            });
        });
    }

    /**
     * POP: a group switched to POP mode, a 5.3.3 push consumer that asks the broker for its
     * queues and pops; each message as popped (with its receipt properties), and the group's
     * offsets after the acks.
     */
    @Test
    void pop() throws Exception {
        both("pop", (t, o) -> {
            String topic = "DiffPop";
            String group = "DiffPopGroup";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 2, 6);
            org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig g =
                new org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig();
            g.setGroupName(group);
            a.createAndUpdateSubscriptionGroupConfig(t.brokerAddr(), g);
            o.outcome("setConsumeMode", () -> a.setMessageRequestMode(t.brokerAddr(), topic, group,
                org.apache.rocketmq.common.message.MessageRequestMode.POP, 8, 5000));
            DefaultMQProducer p = producer(t);
            for (int i = 0; i < 4; i++) {
                o.sent("send" + i, sendTo(p, msg(topic, "TagP", "pk" + i, "pop" + i), i % 2));
            }
            ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
            Clients.pushWith(H, t.namesrv(), group, topic, (MessageListenerConcurrently) (msgs, ctx) -> {
                got.addAll(msgs);
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            }, c -> {
                c.setClientRebalance(false);
                c.setPopInvisibleTime(5000);
                c.setConsumeMessageBatchMaxSize(1);
            });
            deliveries(o, await(got, 4, 60_000));
            consumeStats(o, "consumeStats", committed(a, group, topic));
        });
    }

    /** One pull (up to 32 messages) from offset 0 of a queue, with a pull consumer of its own. */
    private static PullResult pullFromStart(Target t, String topic, int queue) throws Exception {
        DefaultMQPullConsumer pull = new DefaultMQPullConsumer(Clients.unique("DiffReader"));
        pull.setNamesrvAddr(t.namesrv());
        pull.setInstanceName(Clients.unique("reader"));
        pull.start();
        try {
            return pull.pull(new MessageQueue(topic, "broker-a", queue), "*", 0, 32);
        } finally {
            pull.shutdown();
        }
    }

    /** Offset reset by time for a group with an online consumer, and the group's offsets after it. */
    @Test
    void offsetReset() throws Exception {
        both("reset", (t, o) -> {
            String topic = "DiffReset";
            String group = "DiffResetGroup";
            DefaultMQAdminExt a = admin(t);
            createTopic(a, t, topic, 2, 6);
            DefaultMQProducer p = producer(t);
            for (int i = 0; i < 4; i++) {
                sendTo(p, msg(topic, "TagX", null, "reset" + i), i % 2);
            }
            ConcurrentLinkedQueue<MessageExt> got = new ConcurrentLinkedQueue<>();
            consume(t, group, topic, "*", got, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            await(got, 4, 30_000);
            committed(a, group, topic);
            got.clear();
            Map<MessageQueue, Long> reset = a.resetOffsetByTimestamp(topic, group, 0, true);
            new TreeMap<>(reset).forEach((mq, off) -> o.put("reset." + mq.getQueueId(), off));
            List<MessageExt> again = await(got, 4, 30_000);
            o.put("redelivered", again.stream().map(m -> m.getUserProperty("seq") + "@" + m.getQueueId() + ":" + m.getQueueOffset())
                .sorted().toList());
            o.outcome("resetOffline", () -> new TreeMap<>(a.resetOffsetByTimestamp(topic, "DiffNobodyGroup", 0, true))
                .forEach((mq, off) -> o.put("resetOffline." + mq.getQueueId(), off)));
        });
    }

    /** Admin answers mqadmin prints: cluster list, brokerStatus keys, topic list membership. */
    @Test
    void adminAnswers() throws Exception {
        both("admin", (t, o) -> {
            DefaultMQAdminExt a = admin(t);
            var cluster = a.examineBrokerClusterInfo();
            o.put("clusterAddrTable", new TreeMap<>(cluster.getClusterAddrTable()));
            cluster.getBrokerAddrTable().forEach((name, b) -> o.put("brokerAddrTable." + name,
                b.getCluster() + " " + new TreeMap<>(b.getBrokerAddrs())));
            // The Java broker fails this until its statistics have a first sample (a second after start).
            TreeSet<String> keys = new TreeSet<>(Wait.until("runtime stats", 10_000,
                () -> a.fetchBrokerRuntimeStats(t.brokerAddr()), kv -> true).getTable().keySet());
            for (String k : keys) {
                // The key names the CommitLog's directory, which differs between any two brokers.
                o.put("brokerStatus." + (k.startsWith("commitLogDiskRatio_") ? "commitLogDiskRatio_<commitlog dir>" : k), "present");
            }
            TreeSet<String> systemTopics = new TreeSet<>(api(a).getSystemTopicList(5000).getTopicList());
            o.put("systemTopicList", systemTopics);
            o.outcome("topicRoute.TBW102", () -> route(o, "topicRoute.TBW102", a.examineTopicRouteInfo("TBW102")));
        });
    }

    /** Refusals: the response code and remark the client is given. */
    @Test
    void errorCases() throws Exception {
        both("errors", (t, o) -> {
            DefaultMQAdminExt a = admin(t);
            DefaultMQProducer p = producer(t);
            p.setMaxMessageSize(16 * 1024 * 1024);
            for (String bad : new String[] {"bad topic", "bad/topic", "x".repeat(128), "TBW102", "%RETRY%Whatever"}) {
                o.outcome("createTopic." + bad.length() + "." + bad.replaceAll("[^A-Za-z%]", "_"),
                    () -> a.createAndUpdateTopicConfig(t.brokerAddr(), new TopicConfig(bad, 4, 4, 6)));
            }
            createTopic(a, t, "DiffReadOnly", 1, 4);
            o.outcome("sendReadOnly", () -> o.sent("sendReadOnly", sendTo(p, msg("DiffReadOnly", null, null, "ro"), 0)));
            createTopic(a, t, "DiffWriteOnly", 1, 2);
            o.outcome("pullWriteOnly", () -> o.put("pullWriteOnly.status", pullFromStart(t, "DiffWriteOnly", 0).getPullStatus()));
            createTopic(a, t, "DiffBig", 1, 6);
            // Random, so the client's compression (bodies over 4 KiB) cannot shrink it under the limit.
            byte[] big = new byte[4 * 1024 * 1024 + 1];
            new java.util.Random(7).nextBytes(big);
            o.outcome("sendOversize", () -> o.sent("sendOversize", p.send(new Message("DiffBig", big), new MessageQueue("DiffBig", "broker-a", 0))));
            o.outcome("sendToMissingQueue", () -> o.sent("sendToMissingQueue", sendTo(p, msg("DiffBig", null, null, "q9"), 9)));
            o.outcome("consumeStatsUnknownGroup", () -> a.examineConsumeStats("DiffNoSuchGroup"));
            o.outcome("topicConfigUnknown", () -> a.examineTopicConfig(t.brokerAddr(), "DiffNoSuchTopic"));
            o.outcome("routeUnknown", () -> a.examineTopicRouteInfo("DiffNoSuchTopic"));
            o.outcome("topicStatsUnknown", () -> a.examineTopicStats("DiffNoSuchTopic"));
            o.outcome("deleteSubscriptionGroupUnknown", () -> a.deleteSubscriptionGroup(t.brokerAddr(), "DiffNoSuchGroup"));
        });
    }
}
