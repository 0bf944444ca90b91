package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.remoting.protocol.route.BrokerData;
import org.apache.rocketmq.remoting.protocol.route.QueueData;
import org.apache.rocketmq.remoting.protocol.route.TopicRouteData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two brokers behind one NameServer: spread, consume all, survive one broker's death. */
class ClusterTest {
    static final String TOPIC = "ClusterTopic";

    @Test
    void twoBrokersOneNameServer(@TempDir Path dir) throws Exception {
        try (Rocketry ns = Rocketry.namesrv(dir.resolve("ns"));
             Rocketry a = Rocketry.broker(dir.resolve("a"), "broker-a", ns.namesrvAddr());
             Rocketry b = Rocketry.broker(dir.resolve("b"), "broker-b", ns.namesrvAddr())) {
            DefaultMQAdminExt admin = new DefaultMQAdminExt();
            admin.setNamesrvAddr(ns.namesrvAddr());
            admin.setInstanceName("cluster-admin-" + System.nanoTime());
            admin.start();
            DefaultMQProducer producer = new DefaultMQProducer("cluster_producer");
            producer.setNamesrvAddr(ns.namesrvAddr());
            producer.setPollNameServerInterval(1000);
            producer.start();
            DefaultMQPushConsumer consumer = null;
            try {
                admin.createAndUpdateTopicConfig(a.brokerAddr(), new TopicConfig(TOPIC, 4, 4, 6));
                admin.createAndUpdateTopicConfig(b.brokerAddr(), new TopicConfig(TOPIC, 4, 4, 6));
                TopicRouteData route = waitForRoute(admin, 2);
                int writeQueues = route.getQueueDatas().stream().mapToInt(QueueData::getWriteQueueNums).sum();
                assertEquals(8, writeQueues);
                assertEquals(Set.of("broker-a", "broker-b"), brokerNames(route));

                List<Message> sent = new ArrayList<>();
                Set<String> usedBrokers = new HashSet<>();
                for (int i = 0; i < 200; i++) {
                    Message m = Expect.message(TOPIC, "c-" + i, "T", 100);
                    SendResult r = producer.send(m);
                    assertEquals(SendStatus.SEND_OK, r.getSendStatus());
                    usedBrokers.add(r.getMessageQueue().getBrokerName());
                    sent.add(m);
                }
                assertEquals(Set.of("broker-a", "broker-b"), usedBrokers, "sends spread over both brokers");

                Expect.Received got = new Expect.Received();
                consumer = new DefaultMQPushConsumer("cluster_group");
                consumer.setNamesrvAddr(ns.namesrvAddr());
                consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
                consumer.subscribe(TOPIC, "*");
                consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                    msgs.forEach(got::add);
                    return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
                });
                consumer.start();
                got.waitFor(200, 60_000);
                assertEquals(Expect.fingerprints(sent), new TreeMap<>(got.byId));

                // broker-b crashes: sends go on through broker-a, and b's routes leave the NameServer.
                b.kill();
                for (int i = 0; i < 50; i++) {
                    SendResult r = producer.send(Expect.message(TOPIC, "after-" + i, "T", 100));
                    assertEquals(SendStatus.SEND_OK, r.getSendStatus());
                    assertEquals("broker-a", r.getMessageQueue().getBrokerName());
                }
                long end = System.currentTimeMillis() + 15_000;
                Set<String> names = brokerNames(admin.examineTopicRouteInfo(TOPIC));
                while (names.contains("broker-b") && System.currentTimeMillis() < end) {
                    Thread.sleep(200);
                    names = brokerNames(admin.examineTopicRouteInfo(TOPIC));
                }
                assertEquals(Set.of("broker-a"), names, "broker-b's routes expired");
                assertTrue(admin.examineBrokerClusterInfo().getBrokerAddrTable().keySet().equals(Set.of("broker-a")));
            } finally {
                if (consumer != null) consumer.shutdown();
                producer.shutdown();
                admin.shutdown();
            }
        }
    }

    static Set<String> brokerNames(TopicRouteData route) {
        Set<String> names = new HashSet<>();
        for (BrokerData bd : route.getBrokerDatas()) {
            names.add(bd.getBrokerName());
        }
        return names;
    }

    static TopicRouteData waitForRoute(DefaultMQAdminExt admin, int brokers) throws Exception {
        long end = System.currentTimeMillis() + 15_000;
        while (true) {
            try {
                TopicRouteData r = admin.examineTopicRouteInfo(TOPIC);
                if (r.getQueueDatas().size() == brokers || System.currentTimeMillis() > end) {
                    return r;
                }
            } catch (Exception e) {
                if (System.currentTimeMillis() > end) throw e;
            }
            Thread.sleep(100);
        }
    }
}
