package rocketry.compat;

import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.ClientConfig;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.remoting.protocol.heartbeat.MessageModel;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;

/** Official-client factories with short intervals, each client with its own instance (own MQClientInstance). */
final class Clients {
    private static final AtomicInteger SEQ = new AtomicInteger();
    /** Unique per JVM run, so topic/group names never collide with a previous run's data. */
    static final String RUN = UUID.randomUUID().toString().substring(0, 8);

    private Clients() {
    }

    static String unique(String prefix) {
        return prefix + "_" + RUN + "_" + SEQ.incrementAndGet();
    }

    private static void tune(ClientConfig c, String namesrv, String what) {
        c.setNamesrvAddr(namesrv);
        // A distinct instance name gives each client its own MQClientInstance (own connections, own heartbeats).
        c.setInstanceName(unique(what));
        c.setClientIP(Rocketry.LOOPBACK);
        c.setPollNameServerInterval(1000);
        c.setHeartbeatBrokerInterval(1000);
        c.setPersistConsumerOffsetInterval(1000);
    }

    static DefaultMQProducer producer(Harness h, String namesrv) throws Exception {
        DefaultMQProducer p = new DefaultMQProducer(unique("PG"));
        tune(p, namesrv, "producer");
        p.setSendMsgTimeout(5000);
        p.start();
        h.track(p::shutdown);
        return p;
    }

    static DefaultMQAdminExt admin(Harness h, String namesrv) throws Exception {
        return admin(h, namesrv, false);
    }

    /** An admin client, over TLS with useTls (trusting any server certificate, the client's default). */
    static DefaultMQAdminExt admin(Harness h, String namesrv, boolean useTls) throws Exception {
        DefaultMQAdminExt a = new DefaultMQAdminExt(5000);
        tune(a, namesrv, "admin");
        a.setUseTLS(useTls);
        a.setAdminExtGroup(unique("ADMIN"));
        a.start();
        h.track(a::shutdown);
        return a;
    }

    /**
     * Waits until the NameServer routes TBW102 (the auto-create template topic) to every named broker.
     * A broker's port accepts connections before the broker has registered with the NameServer; until
     * it has, a producer's first send to a new topic fails with "No route info of this topic".
     */
    static void awaitAutoCreateRoute(Harness h, String namesrv, java.util.Set<String> brokerNames) throws Exception {
        awaitAutoCreateRoute(h, namesrv, brokerNames, false);
    }

    static void awaitAutoCreateRoute(Harness h, String namesrv, java.util.Set<String> brokerNames, boolean useTls) throws Exception {
        DefaultMQAdminExt a = admin(h, namesrv, useTls);
        try {
            Wait.until("TBW102 routed to " + brokerNames + " by the NameServer", 15_000,
                () -> a.examineTopicRouteInfo("TBW102"),
                r -> r.getBrokerDatas().stream().map(b -> b.getBrokerName()).collect(java.util.stream.Collectors.toSet())
                    .containsAll(brokerNames));
        } finally {
            a.shutdown();
        }
    }

    /** Clustering push consumer from the first offset; the collector records what it receives. */
    static DefaultMQPushConsumer push(Harness h, String namesrv, String group, String topic, String subExpression,
        Received collector) throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        tune(c, namesrv, "push");
        c.setMessageModel(MessageModel.CLUSTERING);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, subExpression);
        c.setConsumeThreadMin(2);
        c.setConsumeThreadMax(4);
        c.setAwaitTerminationMillisWhenShutdown(5000);
        c.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
            msgs.forEach(collector::add);
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        h.track(c::shutdown);
        return c;
    }

    static DefaultLitePullConsumer litePull(Harness h, String namesrv, String group, String topic, String subExpression)
        throws Exception {
        DefaultLitePullConsumer c = new DefaultLitePullConsumer(group);
        tune(c, namesrv, "litepull");
        c.setMessageModel(MessageModel.CLUSTERING);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.setAutoCommitIntervalMillis(1000);
        c.subscribe(topic, subExpression);
        c.start();
        h.track(c::shutdown);
        return c;
    }

    /** A push consumer of `topic` ("*") from the first offset; `configure` adjusts it before it starts. */
    static DefaultMQPushConsumer pushWith(Harness h, String namesrv, String group, String topic,
        org.apache.rocketmq.client.consumer.listener.MessageListener listener,
        java.util.function.Consumer<DefaultMQPushConsumer> configure) throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        c.setNamesrvAddr(namesrv);
        c.setInstanceName(unique("consumer"));
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        // The Java client skips the heartbeat a rebalance sends when its periodic heartbeat holds
        // the lock at that moment; any broker (Java's too) then answers its pulls
        // SUBSCRIPTION_NOT_LATEST until the next heartbeat: 30 s by default, the length of many
        // of our waits. A heartbeat a second makes that window a second.
        c.setHeartbeatBrokerInterval(1000);
        configure.accept(c);
        c.subscribe(topic, "*");
        c.registerMessageListener(listener);
        c.start();
        h.track(c::shutdown);
        return c;
    }

    /** Runs `rocketry admin <args> -n <namesrv> --json` and returns what it printed; it must succeed. */
    static String rocketryAdminJson(String namesrv, String... args) throws Exception {
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of(Rocketry.binary().toString(), "admin"));
        cmd.addAll(java.util.List.of(args));
        cmd.addAll(java.util.List.of("-n", namesrv, "--json"));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new AssertionError("rocketry admin " + String.join(" ", args) + " failed: " + out);
        }
        return out;
    }

    /** Waits (10 s at most) until the NameServer routes `topic`. */
    static void awaitRoute(DefaultMQAdminExt admin, String topic) throws Exception {
        Wait.until("route of " + topic, 10_000, () -> {
            try {
                return admin.examineTopicRouteInfo(topic);
            } catch (Exception e) {
                return null;
            }
        }, r -> r != null);
    }

    /** Messages stored in a topic of broker-a, over its queues (its max offsets). */
    static long stored(DefaultMQAdminExt admin, String topic) throws Exception {
        long n = 0;
        int queues = admin.examineTopicRouteInfo(topic).getQueueDatas().get(0).getReadQueueNums();
        for (int q = 0; q < queues; q++) {
            n += admin.maxOffset(new org.apache.rocketmq.common.message.MessageQueue(topic, "broker-a", q));
        }
        return n;
    }

    /** Where a test's standalone rocketry listens. */
    record Addrs(String namesrv, String brokerAddr) { }

    /** Starts `rocketry standalone` (with extra broker.conf lines) on free ports and waits until it routes. */
    static Addrs standalone(Harness h, String... confLines) throws Exception {
        return standalone(h, false, confLines);
    }

    /** {@link #standalone(Harness, String...)}, asking for its routes over TLS with useTls. */
    static Addrs standalone(Harness h, boolean useTls, String... confLines) throws Exception {
        int[] ports = Rocketry.freePorts(2);
        // Each broker its own name and data dir: a test class may start several, and a store
        // directory belongs to one broker (it is locked).
        String name = unique("standalone");
        h.env().standalone(name, h.env().newDataDir(name + "-data"), ports[0], ports[1], confLines);
        Addrs a = new Addrs(Rocketry.LOOPBACK + ":" + ports[0], Rocketry.LOOPBACK + ":" + ports[1]);
        awaitAutoCreateRoute(h, a.namesrv(), java.util.Set.of("broker-a"), useTls);
        return a;
    }
}
