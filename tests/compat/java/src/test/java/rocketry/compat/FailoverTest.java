package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.remoting.protocol.route.TopicRouteData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Automatic failover with the official Java client: three `rocketry controller` nodes, a NameServer and a
 * group of three brokers in controller mode (SYNC_MASTER, inSyncReplicas=2). A producer sends without pause
 * and a push consumer consumes while the master is SIGKILLed three times (each killed broker restarted
 * after its successor took over). Every send the producer saw SEND_OK is consumed (at least once), the
 * producer and the consumer go on through every route change (the failover times are printed; bench/failover.sh
 * measures them).
 */
class FailoverTest {
    @RegisterExtension
    static final Harness H = new Harness("failover");

    @Test
    void theJavaClientsGoOnThroughRepeatedMasterKills() throws Exception {
        Rocketry env = H.env();
        int[] ports = Rocketry.freePorts(10);
        int[] controllerPorts = {ports[0], ports[1], ports[2]};
        StringBuilder controllerAddr = new StringBuilder();
        for (int i = 0; i < 3; i++) {
            env.controller("controller-" + i, controllerPorts, i, env.newDataDir("controller-" + i), "scanNotActiveBrokerInterval=200");
            controllerAddr.append(i == 0 ? "" : ";").append(Rocketry.LOOPBACK).append(':').append(controllerPorts[i]);
        }
        int nsPort = ports[3];
        env.namesrv("namesrv", nsPort);
        String namesrv = Rocketry.LOOPBACK + ":" + nsPort;
        List<Rocketry.Proc> brokers = new ArrayList<>();
        List<String> addrs = new ArrayList<>();
        for (int id = 1; id <= 3; id++) {
            int port = ports[3 + id];
            addrs.add(Rocketry.LOOPBACK + ":" + port);
            brokers.add(env.broker("broker-" + id, "broker-a", port, nsPort, env.newDataDir("store-" + id),
                "brokerId=" + id, "brokerRole=SYNC_MASTER", "inSyncReplicas=2", "enableControllerMode=true",
                "controllerAddr=" + controllerAddr, "haListenPort=" + ports[6 + id], "brokerHeartbeatInterval=300",
                "controllerHeartBeatTimeoutMills=2000", "slaveSynchronizeIntervalMs=500", "flushDiskType=SYNC_FLUSH"));
        }
        DefaultMQAdminExt admin = Clients.admin(H, namesrv);
        String master = Wait.until("a master elected and routed", 60_000, () -> masterOf(admin, "TBW102"), m -> m != null);
        String topic = Clients.unique("Failover");
        admin.createAndUpdateTopicConfig(master, new TopicConfig(topic, 4, 4, 6));
        Clients.awaitRoute(admin, topic);

        // The consumer runs from the start.
        Map<String, AtomicInteger> consumed = new ConcurrentHashMap<>();
        Clients.pushWith(H, namesrv, Clients.unique("CG_failover"), topic, (MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                consumed.computeIfAbsent(new String(m.getBody(), StandardCharsets.UTF_8), k -> new AtomicInteger()).incrementAndGet();
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        }, c -> {
            c.setPollNameServerInterval(500);
            c.setPersistConsumerOffsetInterval(500);
        });

        // The producer sends without pause; only SEND_OK counts as acknowledged.
        DefaultMQProducer producer = Clients.producer(H, namesrv);
        producer.setSendMsgTimeout(3000);
        Set<String> acked = ConcurrentHashMap.newKeySet();
        AtomicInteger failed = new AtomicInteger();
        AtomicBoolean sending = new AtomicBoolean(true);
        Thread sender = new Thread(() -> {
            for (int seq = 0; sending.get(); seq++) {
                String body = "failover-" + seq;
                try {
                    SendResult r = producer.send(new Message(topic, body.getBytes(StandardCharsets.UTF_8)));
                    if (r.getSendStatus() == SendStatus.SEND_OK) {
                        acked.add(body);
                    } else {
                        failed.incrementAndGet();
                    }
                } catch (Exception e) {
                    failed.incrementAndGet();
                    try {
                        Thread.sleep(50);
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            }
        }, "failover-sender");
        sender.start();
        Wait.until("sends acknowledged", 60_000, acked::size, n -> n >= 100);

        List<Long> failovers = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            String old = masterOf(admin, topic);
            int before = acked.size();
            Rocketry.Proc victim = brokers.get(addrs.indexOf(old));
            victim.kill();
            long killedAt = System.currentTimeMillis();
            String next = Wait.until("a new master routed after kill " + (round + 1), 30_000, () -> masterOf(admin, topic),
                m -> m != null && !m.equals(old));
            Wait.until("the producer acknowledged again after kill " + (round + 1), 30_000, acked::size, n -> n > before + 20);
            failovers.add(System.currentTimeMillis() - killedAt);
            victim.start();
            Wait.until("broker " + old + " back as a replica", 60_000, () -> admin.examineTopicRouteInfo(topic),
                r -> r.getBrokerDatas().get(0).getBrokerAddrs().containsValue(old));
            Thread.sleep(2_000);
        }
        sending.set(false);
        sender.join(10_000);

        Wait.until("every acknowledged send consumed (" + acked.size() + ")", 90_000, () -> {
            int missing = 0;
            for (String b : acked) {
                if (!consumed.containsKey(b)) {
                    missing++;
                }
            }
            return missing;
        }, m -> m == 0);
        assertTrue(acked.size() > 300, "acknowledged " + acked.size() + ", not acknowledged " + failed.get());
        TopicRouteData route = admin.examineTopicRouteInfo(topic);
        assertEquals(3, route.getBrokerDatas().get(0).getBrokerAddrs().size(), "the group's three brokers in the route: " + route);
        System.out.println("[compat] failover times (ms): " + failovers + "; acknowledged " + acked.size() + ", not " + failed.get());
    }

    /** The master (brokerId 0) of broker-a in the topic's route, or null. */
    static String masterOf(DefaultMQAdminExt admin, String topic) {
        try {
            TopicRouteData r = admin.examineTopicRouteInfo(topic);
            return r.getBrokerDatas().isEmpty() ? null : r.getBrokerDatas().get(0).getBrokerAddrs().get(0L);
        } catch (Exception e) {
            return null;
        }
    }
}
