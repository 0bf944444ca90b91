package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.remoting.protocol.route.QueueData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The NameServer dies (SIGKILL) under a running producer and consumer: both go on with the routes
 * they hold, nothing is lost or duplicated; when a NameServer returns on the same port the broker
 * registers again (registerNameServerPeriod, 10 s here) and new clients find the topic.
 */
class NameServerDownTest {
    @RegisterExtension
    static final Harness H = new Harness("namesrv-down");

    @Test
    void clientsAndBrokerWorkFromCachedRoutesAndTheBrokerReRegisters() throws Exception {
        Rocketry env = H.env();
        int[] ports = Rocketry.freePorts(2);
        Rocketry.Proc namesrvProc = env.namesrv("namesrv", ports[0]);
        String namesrv = Rocketry.LOOPBACK + ":" + ports[0];
        String brokerAddr = Rocketry.LOOPBACK + ":" + ports[1];
        env.broker("broker", "broker-a", ports[1], ports[0], env.newDataDir("store"), "registerNameServerPeriod=10000");
        Clients.awaitAutoCreateRoute(H, namesrv, java.util.Set.of("broker-a"));

        DefaultMQAdminExt admin = Clients.admin(H, namesrv);
        String topic = Clients.unique("NsDown");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 4, 4, 6));
        DefaultMQProducer producer = Clients.producer(H, namesrv);
        Wait.until("route of " + topic, 15_000, () -> producer.fetchPublishMessageQueues(topic).size(), n -> n == 4);
        Received got = new Received();
        Clients.push(H, namesrv, Clients.unique("nsdown_group"), topic, "*", got);

        List<Msgs.Sent> sent = new ArrayList<>(Msgs.sendSync(producer, topic, "before", 50));
        assertTrue(got.awaitAll(Msgs.bySeq(sent).keySet(), 60_000), "consumed before the NameServer dies");

        namesrvProc.kill();
        // Longer than the clients' route polling (1 s here), so they have tried and failed to refresh.
        Thread.sleep(3_000);
        sent.addAll(Msgs.sendSync(producer, topic, "during", 50));
        assertTrue(got.awaitAll(Msgs.bySeq(sent).keySet(), 60_000), "consumed while the NameServer is down");

        namesrvProc.start();
        DefaultMQAdminExt fresh = Clients.admin(H, namesrv);
        Wait.until("the broker registered again with the new NameServer", 30_000,
            () -> {
                try {
                    return fresh.examineTopicRouteInfo(topic).getQueueDatas().stream().mapToInt(QueueData::getWriteQueueNums).sum();
                } catch (Exception e) {
                    return 0;
                }
            }, n -> n == 4);
        DefaultMQProducer newcomer = Clients.producer(H, namesrv);
        sent.addAll(Msgs.sendSync(newcomer, topic, "after", 20));
        Map<String, Msgs.Sent> want = Msgs.bySeq(sent);
        assertTrue(got.awaitAll(want.keySet(), 60_000), "consumed after the NameServer returned");
        Thread.sleep(1000);
        Msgs.assertExactly("everything, once", want, got, Map.of("broker-a", brokerAddr));
        assertEquals(120, want.size());
    }
}
