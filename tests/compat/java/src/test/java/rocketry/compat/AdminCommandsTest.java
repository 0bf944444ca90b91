package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.apache.rocketmq.tools.command.MQAdminStartup;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Subscription groups, topic deletion, broker config, and the `mqadmin` commands themselves
 * (which parse GET_BROKER_RUNTIME_INFO and the route and cluster JSON on their own).
 *
 * <p>Request codes exercised: UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200),
 * GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), DELETE_SUBSCRIPTIONGROUP (207), DELETE_TOPIC_IN_BROKER (215),
 * DELETE_TOPIC_IN_NAMESRV (216), GET_TOPIC_CONFIG (351), GET_BROKER_CONFIG (26),
 * GET_BROKER_CLUSTER_INFO (106), GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206), GET_BROKER_RUNTIME_INFO (28),
 * UPDATE_BROKER_CONFIG (25).
 */
class AdminCommandsTest {
    @RegisterExtension
    static final Harness H = new Harness("admincmd");

    static String namesrv;
    static String brokerAddr;
    static DefaultMQAdminExt admin;

    @BeforeAll
    static void start() throws Exception {
        Clients.Addrs a = Clients.standalone(H);
        namesrv = a.namesrv();
        brokerAddr = a.brokerAddr();
        admin = Clients.admin(H, namesrv);
    }

    @Test
    void subscriptionGroupsAreCreatedUpdatedAndDeleted() throws Exception {
        String group = Clients.unique("admin_group");
        SubscriptionGroupConfig g = new SubscriptionGroupConfig();
        g.setGroupName(group);
        g.setRetryMaxTimes(5);
        admin.createAndUpdateSubscriptionGroupConfig(brokerAddr, g);
        assertEquals(5, admin.examineSubscriptionGroupConfig(brokerAddr, group).getRetryMaxTimes());
        g.setRetryMaxTimes(7);
        admin.createAndUpdateSubscriptionGroupConfig(brokerAddr, g);
        assertEquals(7, admin.examineSubscriptionGroupConfig(brokerAddr, group).getRetryMaxTimes());
        admin.deleteSubscriptionGroup(brokerAddr, group, true);
        // The admin reads the whole table (GET_ALL_SUBSCRIPTIONGROUP_CONFIG): a deleted group is absent.
        assertNull(admin.examineSubscriptionGroupConfig(brokerAddr, group));
    }

    @Test
    void topicsAreDeletedFromBrokerAndNameServer() throws Exception {
        String topic = Clients.unique("Doomed");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 1, 1, 6));
        awaitRoute(topic);
        admin.deleteTopicInBroker(Set.of(brokerAddr), topic);
        admin.deleteTopicInNameServer(Set.of(namesrv), topic);
        assertFalse(admin.fetchAllTopicList().getTopicList().contains(topic));
        MQBrokerException e = assertThrows(MQBrokerException.class, () -> admin.examineTopicConfig(brokerAddr, topic));
        assertEquals(17, e.getResponseCode(), "TOPIC_NOT_EXIST");
    }

    @Test
    void brokerConfigUsesJavaKeyNames() throws Exception {
        Properties config = admin.getBrokerConfig(brokerAddr);
        assertEquals("broker-a", config.getProperty("brokerName"));
        assertEquals("DefaultCluster", config.getProperty("brokerClusterName"));
        assertEquals("ASYNC_FLUSH", config.getProperty("flushDiskType"));
    }

    @Test
    void brokerPermissionChangesWhileServing() throws Exception {
        String topic = Clients.unique("PermTopic");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 1, 1, 6));
        try {
            String out = mqadmin("updateBrokerConfig", "-n", namesrv, "-b", brokerAddr, "-k", "brokerPermission", "-v", "4");
            assertTrue(out.contains("update broker config success"), out);
            assertEquals("4", admin.getBrokerConfig(brokerAddr).getProperty("brokerPermission"));
            // Registered again at once: the NameServer's route shows the topic read-only.
            Wait.until("read-only route of " + topic, 10_000, () -> {
                try {
                    return admin.examineTopicRouteInfo(topic).getQueueDatas().get(0).getPerm();
                } catch (Exception e) {
                    return null;
                }
            }, perm -> perm != null && perm == 4);
        } finally {
            mqadmin("updateBrokerConfig", "-n", namesrv, "-b", brokerAddr, "-k", "brokerPermission", "-v", "6");
        }
        assertEquals("6", admin.getBrokerConfig(brokerAddr).getProperty("brokerPermission"));
    }

    @Test
    void mqadminCommandsWork() {
        String clusterList = mqadmin("clusterList", "-n", namesrv);
        assertTrue(clusterList.contains("DefaultCluster") && clusterList.contains("broker-a") && clusterList.contains(brokerAddr), clusterList);
        String topics = mqadmin("topicList", "-n", namesrv);
        assertTrue(topics.contains("TBW102"), topics);
        String status = mqadmin("brokerStatus", "-n", namesrv, "-b", brokerAddr);
        assertTrue(status.contains("msgPutTotalTodayNow") && status.contains("brokerVersionDesc"), status);
        String route = mqadmin("topicRoute", "-n", namesrv, "-t", "TBW102");
        assertTrue(route.contains("\"brokerName\":\"broker-a\""), route);
        // Draining a broker on the NameServer, and back.
        String wiped = mqadmin("wipeWritePerm", "-n", namesrv, "-b", "broker-a");
        assertTrue(wiped.contains("wipe write perm of broker[broker-a] in name server[" + namesrv + "] OK"), wiped);
        String added = mqadmin("addWritePerm", "-n", namesrv, "-b", "broker-a");
        assertTrue(added.contains("add write perm of broker[broker-a] in name server[" + namesrv + "] OK"), added);
    }

    /**
     * The official mqadmin's topic, group and message commands against Rocketry, each checked
     * for the content it prints: updateTopic, updateSubGroup, topicStatus, queryMsgByKey,
     * queryMsgById, consumerProgress, resetOffsetByTime.
     */
    @Test
    void mqadminTopicGroupAndMessageCommandsWork() throws Exception {
        String topic = Clients.unique("MqadminT");
        String group = Clients.unique("MqadminG");
        assertTrue(mqadmin("updateTopic", "-n", namesrv, "-c", "DefaultCluster", "-t", topic, "-r", "2", "-w", "2").contains("success"));
        assertTrue(mqadmin("updateSubGroup", "-n", namesrv, "-c", "DefaultCluster", "-g", group).contains("success"));
        awaitRoute(topic);
        org.apache.rocketmq.client.producer.DefaultMQProducer p = Clients.producer(H, namesrv);
        org.apache.rocketmq.client.producer.SendResult r = null;
        for (int i = 0; i < 3; i++) {
            org.apache.rocketmq.common.message.Message m = new org.apache.rocketmq.common.message.Message(topic, "TagA", "key-" + i, ("body " + i).getBytes(StandardCharsets.UTF_8));
            r = p.send(m, new org.apache.rocketmq.common.message.MessageQueue(topic, "broker-a", 0));
        }
        String status = mqadmin("topicStatus", "-n", namesrv, "-t", topic);
        assertTrue(status.contains("broker-a") && status.lines().anyMatch(l -> l.trim().startsWith("broker-a") && l.contains(" 3 ")), status);
        String byKey = mqadmin("queryMsgByKey", "-n", namesrv, "-t", topic, "-k", "key-2");
        assertTrue(byKey.contains(r.getMsgId()), byKey);
        String byId = mqadmin("queryMsgById", "-n", namesrv, "-t", topic, "-i", r.getMsgId());
        assertTrue(byId.contains("key-2") && byId.contains("TagA"), byId);
        String byOffsetId = mqadmin("queryMsgById", "-n", namesrv, "-t", topic, "-i", r.getOffsetMsgId());
        assertTrue(byOffsetId.contains("key-2"), byOffsetId);
        // A group's progress is found through its retry topic's route, which the broker makes
        // when a consumer of the group first heartbeats (the Java broker too): consume, then stop.
        org.apache.rocketmq.client.consumer.DefaultMQPushConsumer c = consumeAll(group, topic, 3);
        c.shutdown();
        String progress = mqadmin("consumerProgress", "-n", namesrv, "-g", group);
        assertTrue(progress.contains(topic) && progress.contains("Diff Total: 0"), progress);
        String reset = mqadmin("resetOffsetByTime", "-n", namesrv, "-g", group, "-t", topic, "-s", "0");
        assertTrue(reset.contains("broker-a"), reset);
        Wait.until("offsets reset to the start", 10_000, () -> {
            try {
                return admin.examineConsumeStats(group).computeTotalDiff();
            } catch (Exception e) {
                return -1L;
            }
        }, d -> d == 3L);
        String after = mqadmin("consumerProgress", "-n", namesrv, "-g", group);
        assertTrue(after.contains("Diff Total: 3"), after);
    }

    /** A Java producer's connection, as the official mqadmin and our CLI see it. */
    @Test
    void producerConnectionsAreListed() throws Exception {
        String topic = Clients.unique("ProducerSeen");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 1, 1, 6));
        org.apache.rocketmq.client.producer.DefaultMQProducer p = Clients.producer(H, namesrv);
        p.send(new org.apache.rocketmq.common.message.Message(topic, "x".getBytes(StandardCharsets.UTF_8)));
        String clientId = p.getDefaultMQProducerImpl().getMqClientFactory().getClientId();
        Wait.until("the producer's heartbeat", 10_000, () -> {
            try {
                return admin.examineProducerConnectionInfo(p.getProducerGroup(), topic).getConnectionSet().size();
            } catch (Exception e) {
                return 0;
            }
        }, n -> n == 1);
        String listed = mqadmin("producerConnection", "-n", namesrv, "-g", p.getProducerGroup(), "-t", topic);
        assertTrue(listed.contains(clientId) && listed.contains("JAVA"), listed);
        String out = Clients.rocketryAdminJson(namesrv, "producerConnection", "-g", p.getProducerGroup(), "-t", topic);
        com.alibaba.fastjson2.JSONArray ours = com.alibaba.fastjson2.JSON.parseArray(out);
        assertEquals(clientId, ours.getJSONObject(0).getString("clientId"), out);
    }

    /** Waits until the NameServer routes `topic`. */
    static void awaitRoute(String topic) throws Exception {
        Clients.awaitRoute(admin, topic);
    }

    /** A push consumer of `group` that has consumed `n` messages of `topic` and committed them. */
    static org.apache.rocketmq.client.consumer.DefaultMQPushConsumer consumeAll(String group, String topic, int n) throws Exception {
        Received got = new Received();
        org.apache.rocketmq.client.consumer.DefaultMQPushConsumer c = Clients.pushWith(H, namesrv, group, topic,
            (org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently) (msgs, ctx) -> {
                got.addAll(msgs);
                return org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            }, x -> x.setPersistConsumerOffsetInterval(500));
        Wait.until(n + " consumed and committed", 30_000, () -> {
            try {
                return got.total() >= n ? admin.examineConsumeStats(group).computeTotalDiff() : -1L;
            } catch (Exception e) {
                return -1L;
            }
        }, d -> d == 0L);
        return c;
    }

    /** Runs `rocketry admin <args> -n <namesrv> --json` and parses what it printed. */
    static com.alibaba.fastjson2.JSONObject rocketryAdminJson(String... args) throws Exception {
        return com.alibaba.fastjson2.JSON.parseObject(Clients.rocketryAdminJson(namesrv, args));
    }

    /** Our CLI sees what the Java admin sees of a Java push consumer: its connection and its progress. */
    @Test
    void rocketryAdminSeesTheJavaConsumer() throws Exception {
        String topic = Clients.unique("AdminSeen");
        String group = Clients.unique("AdminSeenG");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 2, 2, 6));
        org.apache.rocketmq.client.producer.DefaultMQProducer p = Clients.producer(H, namesrv);
        for (int i = 0; i < 6; i++) {
            p.send(new org.apache.rocketmq.common.message.Message(topic, ("m" + i).getBytes(StandardCharsets.UTF_8)));
        }
        org.apache.rocketmq.client.consumer.DefaultMQPushConsumer c = consumeAll(group, topic, 6);
        String clientId = c.getDefaultMQPushConsumerImpl().getmQClientFactory().getClientId();
        com.alibaba.fastjson2.JSONObject conn = rocketryAdminJson("consumerConnection", "-g", group);
        assertEquals(1, conn.getJSONArray("connectionSet").size(), conn.toString());
        assertEquals("JAVA", conn.getJSONArray("connectionSet").getJSONObject(0).getString("language"));
        assertTrue(conn.getJSONObject("subscriptionTable").containsKey(topic), conn.toString());
        assertEquals("CONSUME_PASSIVELY", conn.getString("consumeType"));
        com.alibaba.fastjson2.JSONObject progress = rocketryAdminJson("consumerProgress", "-g", group);
        assertEquals(0, progress.getIntValue("diffTotal"), progress.toString());
        long ours = progress.getJSONArray("queues").stream().filter(q -> topic.equals(((com.alibaba.fastjson2.JSONObject) q).getString("topic"))).count();
        long javas = admin.examineConsumeStats(group).getOffsetTable().keySet().stream().filter(mq -> mq.getTopic().equals(topic)).count();
        assertEquals(javas, ours, "queues of the topic in the progress: " + progress);

        // consumerStatus: the client's own view (GET_CONSUMER_RUNNING_INFO relayed to it).
        com.alibaba.fastjson2.JSONObject status = rocketryAdminJson("consumerStatus", "-g", group);
        com.alibaba.fastjson2.JSONObject one = status.getJSONArray("clients").getJSONObject(0);
        assertEquals(clientId, one.getString("clientId"), status.toString());
        assertTrue(status.getJSONArray("warnings").isEmpty(), status.toString());
        long held = one.getJSONObject("runningInfo").getJSONArray("mqTable").stream()
            .filter(q -> topic.equals(((com.alibaba.fastjson2.JSONObject) q).getString("topic"))).count();
        assertEquals(2, held, "the only client holds both queues: " + status);
        com.alibaba.fastjson2.JSONObject full = rocketryAdminJson("consumerStatus", "-g", group, "-i", clientId);
        assertEquals("CONSUME_PASSIVELY", full.getJSONObject("properties").getString("PROP_CONSUME_TYPE"), full.toString());
        assertTrue(full.getJSONArray("subscriptionSet").stream().anyMatch(x -> topic.equals(((com.alibaba.fastjson2.JSONObject) x).getString("topic"))), full.toString());
        String official = mqadmin("consumerStatus", "-n", namesrv, "-g", group, "-i", clientId);
        assertTrue(official.contains("#Consumer Subscription#") && official.contains(topic), official);
        // -s: which client holds each queue.
        com.alibaba.fastjson2.JSONObject holders = rocketryAdminJson("consumerProgress", "-g", group, "-t", topic, "-s", "true");
        String ip = conn.getJSONArray("connectionSet").getJSONObject(0).getString("clientAddr");
        assertTrue(holders.getJSONArray("queues").stream().allMatch(q -> ip.equals(((com.alibaba.fastjson2.JSONObject) q).getString("clientIp"))), holders.toString());

        // Every group at once, and every topic with its cluster and groups; the official tool agrees.
        com.alibaba.fastjson2.JSONArray groups = com.alibaba.fastjson2.JSON.parseArray(Clients.rocketryAdminJson(namesrv, "consumerProgress"));
        com.alibaba.fastjson2.JSONObject mine = groups.stream().map(g -> (com.alibaba.fastjson2.JSONObject) g)
            .filter(g -> group.equals(g.getString("group"))).findFirst().orElseThrow(() -> new AssertionError(groups.toString()));
        assertEquals(List.of(1, "PUSH", "CLUSTERING", 0), List.of(mine.getIntValue("count"), mine.getString("type"), mine.getString("model"), mine.getIntValue("diffTotal")), mine.toString());
        assertTrue(mqadmin("consumerProgress", "-n", namesrv).lines().anyMatch(l -> l.startsWith(group) && l.contains("PUSH") && l.contains("CLUSTERING")));
        com.alibaba.fastjson2.JSONArray topics = com.alibaba.fastjson2.JSON.parseArray(Clients.rocketryAdminJson(namesrv, "topicList", "-c"));
        assertTrue(topics.stream().map(t -> (com.alibaba.fastjson2.JSONObject) t)
            .anyMatch(t -> topic.equals(t.getString("topic")) && t.getJSONArray("groups").contains(group) && t.getJSONArray("clusters").contains("DefaultCluster")), topics.toString());
        assertTrue(mqadmin("topicList", "-n", namesrv, "-c").lines().anyMatch(l -> l.startsWith("DefaultCluster") && l.contains(topic) && l.contains(group)));
        c.shutdown();
    }

    /** Runs an mqadmin command in this JVM and returns what it printed; it must not print an exception. */
    static String mqadmin(String... args) {
        return mqadmin((org.apache.rocketmq.remoting.RPCHook) null, args);
    }

    /** The same, signing with `hook` (ACL 2.0 credentials) when it is not null. */
    static String mqadmin(org.apache.rocketmq.remoting.RPCHook hook, String... args) {
        PrintStream original = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            MQAdminStartup.main0(args, hook);
        } finally {
            System.setOut(original);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        // A failure prints an exception (`…Exception: why`, then `\tat` frames); a property name
        // like pullTimeDelayMillsWhenException is not one.
        assertFalse(out.contains("Exception:") || out.contains("\tat "), out);
        return out;
    }
}
