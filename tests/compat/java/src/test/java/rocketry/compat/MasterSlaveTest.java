package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.remoting.protocol.body.HARuntimeInfo;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Master/slave replication with the official Java client and tools: a SYNC_MASTER (`rocketry broker`,
 * brokerRole=SYNC_MASTER) and its replica (brokerRole=SLAVE, brokerId=1) of broker-a.
 *
 * <p>Without a replica a send is stored but answered SLAVE_NOT_AVAILABLE (SendStatus.SLAVE_NOT_AVAILABLE);
 * with it every send is SEND_OK only once the replica holds it. `mqadmin haStatus` (GET_BROKER_HA_STATUS,
 * 907) shows the replica in sync. Then the master is SIGKILLed while a slow push consumer has read only the
 * first few messages: the NameServer drops the master, the client's pulls go to the replica (brokerId 1), and
 * the consumer receives every acknowledged message, each once, with its properties and ids.
 */
class MasterSlaveTest {
    @RegisterExtension
    static final Harness H = new Harness("master-slave");

    @Test
    void aReplicaConfirmsSyncSendsAndServesConsumersWhenTheMasterDies() throws Exception {
        Rocketry env = H.env();
        int[] ports = Rocketry.freePorts(5);
        int nsPort = ports[0];
        env.namesrv("namesrv", nsPort);
        String namesrv = Rocketry.LOOPBACK + ":" + nsPort;
        String masterAddr = Rocketry.LOOPBACK + ":" + ports[1];
        String slaveAddr = Rocketry.LOOPBACK + ":" + ports[2];
        Rocketry.Proc master = env.broker("master", "broker-a", ports[1], nsPort, env.newDataDir("store-master"),
            "brokerRole=SYNC_MASTER", "flushDiskType=SYNC_FLUSH", "haListenPort=" + ports[3]);

        DefaultMQAdminExt admin = Clients.admin(H, namesrv);
        String topic = Clients.unique("MasterSlave");
        admin.createAndUpdateTopicConfig(masterAddr, new TopicConfig(topic, 2, 2, 6));
        Clients.awaitRoute(admin, topic);
        DefaultMQProducer producer = Clients.producer(H, namesrv);

        // No replica yet: stored on the master, and the producer is told so.
        List<Msgs.Sent> sent = new ArrayList<>();
        Message lone = Msgs.make(topic, "ms-alone", "TagA", 64);
        Msgs.Sent loneSent = Msgs.expect(lone);
        SendResult r = producer.send(lone);
        assertEquals(SendStatus.SLAVE_NOT_AVAILABLE, r.getSendStatus(), "a SYNC_MASTER without a replica: " + r);
        Msgs.sentAt(loneSent, lone);
        loneSent.brokerName = r.getMessageQueue().getBrokerName();
        loneSent.queueId = r.getMessageQueue().getQueueId();
        loneSent.queueOffset = r.getQueueOffset();
        loneSent.offsetMsgId = r.getOffsetMsgId();
        sent.add(loneSent);

        env.broker("slave", "broker-a", ports[2], nsPort, env.newDataDir("store-slave"),
            "brokerRole=SLAVE", "brokerId=1", "haListenPort=" + ports[4], "slaveSynchronizeIntervalMs=500");
        HARuntimeInfo ha = Wait.until("the replica in sync", 30_000, () -> admin.getBrokerHAStatus(masterAddr),
            h -> h.getInSyncSlaveNums() == 1);
        assertTrue(ha.isMaster());
        Wait.until("the replica in the route", 30_000, () -> admin.examineTopicRouteInfo(topic),
            rt -> rt.getBrokerDatas().get(0).getBrokerAddrs().containsKey(1L));
        String status = AdminCommandsTest.mqadmin("haStatus", "-n", namesrv, "-b", masterAddr);
        assertTrue(status.contains("#InSyncSlaveNum\t1") && status.contains(" OK "), status);

        // With it: each send SEND_OK, confirmed by the replica.
        for (int i = 0; i < 60; i++) {
            Message m = Msgs.make(topic, String.format("ms-%03d", i), i % 2 == 0 ? "TagA" : null, 40 + i);
            Msgs.Sent s = Msgs.expect(m);
            SendResult res = producer.send(m);
            Msgs.sentAt(s, m);
            Msgs.record(s, res, topic);
            sent.add(s);
        }

        // A consumer that holds each message until the gate opens, so it has read only a few when
        // the master dies; the rest must come from the replica.
        CountDownLatch firstSeen = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        Received got = new Received();
        Clients.pushWith(H, namesrv, Clients.unique("CG_ms"), topic, (MessageListenerConcurrently) (msgs, ctx) -> {
            firstSeen.countDown();
            try {
                gate.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            msgs.forEach(got::add);
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        }, c -> {
            c.setPullThresholdForQueue(1);
            c.setPullBatchSize(1);
            c.setConsumeMessageBatchMaxSize(1);
            c.setConsumeThreadMin(1);
            c.setConsumeThreadMax(1);
            c.setPollNameServerInterval(1000);
            c.setPersistConsumerOffsetInterval(1000);
        });
        assertTrue(firstSeen.await(30, TimeUnit.SECONDS), "the consumer received nothing");
        master.kill();
        Wait.until("the NameServer to route broker-a to its replica only", 30_000, () -> admin.examineTopicRouteInfo(topic),
            rt -> !rt.getBrokerDatas().get(0).getBrokerAddrs().containsKey(0L));
        gate.countDown();
        Map<String, Msgs.Sent> want = Msgs.bySeq(sent);
        got.awaitAll(want.keySet(), 90_000);
        Thread.sleep(2_000);
        Msgs.assertExactly("consumed through the replica after the master died", want, got, Map.of("broker-a", masterAddr));
        // Most of them were read from the replica.
        long fromReplica = Long.parseLong(admin.fetchBrokerRuntimeStats(slaveAddr).getTable().get("msgGetTotalTodayNow"));
        assertTrue(fromReplica >= sent.size() - 10, "messages read from the replica: " + fromReplica + " of " + sent.size());
    }
}
