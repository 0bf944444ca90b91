package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.protocol.admin.TopicOffset;
import org.apache.rocketmq.remoting.protocol.admin.TopicStatsTable;
import org.apache.rocketmq.remoting.protocol.body.ClusterInfo;
import org.apache.rocketmq.remoting.protocol.body.KVTable;
import org.apache.rocketmq.remoting.protocol.body.TopicList;
import org.apache.rocketmq.remoting.protocol.route.TopicRouteData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Routes and admin calls through rocketmq-client and rocketmq-tools. */
class AdminTest {
    static Rocketry server;
    static DefaultMQAdminExt admin;
    static DefaultMQProducer producer;

    @BeforeAll
    static void start(@TempDir Path dir) throws Exception {
        server = Rocketry.standalone(dir);
        admin = new DefaultMQAdminExt();
        admin.setNamesrvAddr(server.namesrvAddr());
        admin.setInstanceName("admin-" + System.nanoTime());
        admin.start();
        producer = new DefaultMQProducer("admin_test_producer");
        producer.setNamesrvAddr(server.namesrvAddr());
        producer.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (producer != null) producer.shutdown();
        if (admin != null) admin.shutdown();
        if (server != null) server.close();
    }

    @Test
    void clusterAndRoutes() throws Exception {
        ClusterInfo info = admin.examineBrokerClusterInfo();
        assertEquals(Set.of("broker-a"), info.getClusterAddrTable().get("DefaultCluster"));
        assertEquals(server.brokerAddr(), info.getBrokerAddrTable().get("broker-a").getBrokerAddrs().get(0L));

        TopicConfig tc = new TopicConfig("AdminTopic", 4, 4, 6);
        admin.createAndUpdateTopicConfig(server.brokerAddr(), tc);
        TopicRouteData route = waitForRoute("AdminTopic");
        assertEquals(4, route.getQueueDatas().get(0).getWriteQueueNums());
        assertEquals("broker-a", route.getQueueDatas().get(0).getBrokerName());

        List<MessageQueue> queues = producer.fetchPublishMessageQueues("AdminTopic");
        assertEquals(4, queues.size());
        for (MessageQueue q : queues) {
            assertEquals("broker-a", q.getBrokerName());
        }
        TopicList all = admin.fetchAllTopicList();
        assertTrue(all.getTopicList().contains("AdminTopic"), all.getTopicList().toString());
    }

    static TopicRouteData waitForRoute(String topic) throws Exception {
        Exception last = null;
        for (int i = 0; i < 100; i++) {
            try {
                return admin.examineTopicRouteInfo(topic);
            } catch (Exception e) {
                last = e;
                Thread.sleep(100);
            }
        }
        throw last;
    }

    @Test
    void statsViewAndQuery() throws Exception {
        admin.createAndUpdateTopicConfig(server.brokerAddr(), new TopicConfig("StatsTopic", 2, 2, 6));
        waitForRoute("StatsTopic");
        List<SendResult> results = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            results.add(producer.send(Expect.message("StatsTopic", "s-" + i, "T", 64), new MessageQueue("StatsTopic", "broker-a", i % 2)));
        }
        TopicStatsTable stats = admin.examineTopicStats("StatsTopic");
        long total = 0;
        for (TopicOffset o : stats.getOffsetTable().values()) {
            total += o.getMaxOffset() - o.getMinOffset();
        }
        assertEquals(10, total);
        assertEquals(5, stats.getOffsetTable().get(new MessageQueue("StatsTopic", "broker-a", 1)).getMaxOffset());

        MessageExt viewed = admin.viewMessage("StatsTopic", results.get(3).getOffsetMsgId());
        assertEquals("s-3", viewed.getUserProperty("id"));
        assertEquals(Expect.fingerprint(Expect.message("StatsTopic", "s-3", "T", 64)), Expect.fingerprint(viewed));

        QueryResult byKey = admin.queryMessage("StatsTopic", "key-s-7", 32, 0, Long.MAX_VALUE);
        assertEquals(1, byKey.getMessageList().size());
        assertEquals("s-7", byKey.getMessageList().get(0).getUserProperty("id"));

        QueryResult byUniq = admin.queryMessageByUniqKey("DefaultCluster", "StatsTopic", results.get(5).getMsgId(), 32, 0, Long.MAX_VALUE);
        assertEquals(1, byUniq.getMessageList().size());
        assertEquals("s-5", byUniq.getMessageList().get(0).getUserProperty("id"));

        KVTable runtime = admin.fetchBrokerRuntimeStats(server.brokerAddr());
        assertTrue(Long.parseLong(runtime.getTable().get("msgPutTotalTodayNow")) >= 10);
        Properties config = admin.getBrokerConfig(server.brokerAddr());
        assertEquals("broker-a", config.getProperty("brokerName"));
    }

    @Test
    void deleteTopic() throws Exception {
        admin.createAndUpdateTopicConfig(server.brokerAddr(), new TopicConfig("DoomedTopic", 1, 1, 6));
        waitForRoute("DoomedTopic");
        Set<String> masters = new HashSet<>(List.of(server.brokerAddr()));
        admin.deleteTopicInBroker(masters, "DoomedTopic");
        admin.deleteTopicInNameServer(new HashSet<>(List.of(server.namesrvAddr())), "DoomedTopic");
        assertFalse(admin.fetchAllTopicList().getTopicList().contains("DoomedTopic"));
        org.apache.rocketmq.client.exception.MQBrokerException e = org.junit.jupiter.api.Assertions.assertThrows(
            org.apache.rocketmq.client.exception.MQBrokerException.class,
            () -> admin.examineTopicConfig(server.brokerAddr(), "DoomedTopic"));
        assertEquals(17, e.getResponseCode());
    }

    @Test
    void subscriptionGroups() throws Exception {
        org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig g =
            new org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig();
        g.setGroupName("admin_group");
        g.setRetryMaxTimes(5);
        admin.createAndUpdateSubscriptionGroupConfig(server.brokerAddr(), g);
        assertEquals(5, admin.examineSubscriptionGroupConfig(server.brokerAddr(), "admin_group").getRetryMaxTimes());
        g.setRetryMaxTimes(7);
        admin.createAndUpdateSubscriptionGroupConfig(server.brokerAddr(), g);
        assertEquals(7, admin.examineSubscriptionGroupConfig(server.brokerAddr(), "admin_group").getRetryMaxTimes());
        admin.deleteSubscriptionGroup(server.brokerAddr(), "admin_group", true);
        // The admin reads the whole table (GET_ALL_SUBSCRIPTIONGROUP_CONFIG): a deleted group is absent.
        org.junit.jupiter.api.Assertions.assertNull(admin.examineSubscriptionGroupConfig(server.brokerAddr(), "admin_group"));
    }

    /** The mqadmin commands themselves, which parse runtime info and route JSON. */
    @Test
    void mqadminCommands() throws Exception {
        String clusterList = mqadmin("clusterList", "-n", server.namesrvAddr());
        assertTrue(clusterList.contains("DefaultCluster") && clusterList.contains("broker-a") && clusterList.contains(server.brokerAddr()), clusterList);
        String topics = mqadmin("topicList", "-n", server.namesrvAddr());
        assertTrue(topics.contains("TBW102"), topics);
        String status = mqadmin("brokerStatus", "-n", server.namesrvAddr(), "-b", server.brokerAddr());
        assertTrue(status.contains("msgPutTotalTodayNow"), status);
    }

    static String mqadmin(String... args) {
        java.io.PrintStream original = System.out;
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            org.apache.rocketmq.tools.command.MQAdminStartup.main0(args, null);
        } finally {
            System.setOut(original);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertFalse(out.contains("Exception"), out);
        return out;
    }

    static String body(MessageExt m) {
        return new String(m.getBody(), StandardCharsets.UTF_8);
    }
}
