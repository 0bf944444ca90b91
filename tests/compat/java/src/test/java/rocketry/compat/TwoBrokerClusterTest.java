package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.remoting.protocol.body.ClusterInfo;
import org.apache.rocketmq.remoting.protocol.route.BrokerData;
import org.apache.rocketmq.remoting.protocol.route.QueueData;
import org.apache.rocketmq.remoting.protocol.route.TopicRouteData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (e) A NameServer (`rocketry namesrv`) and two brokers (`rocketry broker -c ...`: broker-a and
 * broker-b of DefaultCluster). A topic with 4 queues on each broker; 200 sync sends must use both
 * brokers and one push consumer group must receive exactly those 200. Then broker-b is SIGKILLed:
 * sends keep succeeding (on broker-a, the producer retrying around the dead broker), the consumer
 * gets those too, and the NameServer drops broker-b from the route and the cluster info once its
 * connection is gone.
 *
 * <p>Request codes exercised: REGISTER_BROKER (103) from two brokers, GET_BROKER_CLUSTER_INFO (106),
 * UPDATE_AND_CREATE_TOPIC (17) on each broker, GET_ROUTEINFO_BY_TOPIC (105) with two brokers,
 * SEND_MESSAGE_V2 (310), HEARTBEAT (34), PULL_MESSAGE (11) from both brokers; the NameServer's
 * handling of a broker connection that closes (the Java NameServer removes that broker's routes at once).
 */
class TwoBrokerClusterTest {
    @RegisterExtension
    static final Harness H = new Harness("two-brokers");

    static final String CLUSTER = "DefaultCluster";

    @Test
    void twoBrokersThenOneDies() throws Exception {
        Rocketry env = H.env();
        int[] ports = Rocketry.freePorts(3);
        int nsPort = ports[0];
        env.namesrv("namesrv", nsPort);
        String namesrv = Rocketry.LOOPBACK + ":" + nsPort;
        String addrA = Rocketry.LOOPBACK + ":" + ports[1];
        String addrB = Rocketry.LOOPBACK + ":" + ports[2];
        env.broker("broker-a", "broker-a", ports[1], nsPort, env.newDataDir("store-a"));
        Rocketry.Proc brokerB = env.broker("broker-b", "broker-b", ports[2], nsPort, env.newDataDir("store-b"));
        Map<String, String> brokers = Map.of("broker-a", addrA, "broker-b", addrB);

        DefaultMQAdminExt admin = Clients.admin(H, namesrv);
        ClusterInfo ci = Wait.until("both brokers registered", 15_000, admin::examineBrokerClusterInfo,
            c -> c.getBrokerAddrTable().keySet().containsAll(brokers.keySet()));
        assertEquals(Map.of(CLUSTER, Set.of("broker-a", "broker-b")), ci.getClusterAddrTable(), "clusterAddrTable");
        for (Map.Entry<String, String> b : brokers.entrySet()) {
            BrokerData bd = ci.getBrokerAddrTable().get(b.getKey());
            assertEquals(CLUSTER, bd.getCluster());
            assertEquals(Map.of(0L, b.getValue()), bd.getBrokerAddrs(), "addresses of " + b.getKey());
        }

        String topic = Clients.unique("TwoBrokers");
        admin.createAndUpdateTopicConfig(addrA, new TopicConfig(topic, 4, 4, 6));
        admin.createAndUpdateTopicConfig(addrB, new TopicConfig(topic, 4, 4, 6));
        TopicRouteData route = Wait.until("8 write queues over broker-a and broker-b", 15_000,
            () -> admin.examineTopicRouteInfo(topic),
            r -> r.getQueueDatas().stream().mapToInt(QueueData::getWriteQueueNums).sum() == 8
                && r.getQueueDatas().size() == 2 && r.getBrokerDatas().size() == 2);
        assertEquals(Map.of("broker-a", 4, "broker-b", 4), writeQueues(route), "write queues per broker");
        assertEquals(Map.of("broker-a", addrA, "broker-b", addrB), masterAddrs(route), "broker addresses in the route");

        DefaultMQProducer producer = Clients.producer(H, namesrv);
        List<Msgs.Sent> first = Msgs.sendSync(producer, topic, "e1", 200);
        Msgs.assertDistinctPositions(first);
        Map<String, Integer> perBroker = new TreeMap<>();
        first.forEach(s -> perBroker.merge(s.brokerName, 1, Integer::sum));
        assertEquals(Set.of("broker-a", "broker-b"), perBroker.keySet(), "brokers used by 200 sends: " + perBroker);

        Received got = new Received();
        Clients.push(H, namesrv, Clients.unique("CG_two"), topic, "*", got);
        Map<String, Msgs.Sent> want = Msgs.bySeq(first);
        got.awaitAll(want.keySet(), 30_000);
        Thread.sleep(2_000);
        Msgs.assertExactly("push consumer over two brokers", want, got, brokers);

        // Crash broker-b.
        brokerB.kill();
        List<Msgs.Sent> second = Msgs.sendSync(producer, topic, "e2", 50);
        Map<String, Integer> after = new TreeMap<>();
        second.forEach(s -> after.merge(s.brokerName, 1, Integer::sum));
        assertEquals(Map.of("broker-a", 50), after, "brokers that took the 50 sends after broker-b died");

        TopicRouteData routeAfter = Wait.until("NameServer to drop broker-b from the route of " + topic, 15_000,
            () -> admin.examineTopicRouteInfo(topic),
            r -> r.getBrokerDatas().stream().noneMatch(b -> b.getBrokerName().equals("broker-b"))
                && r.getQueueDatas().stream().noneMatch(q -> q.getBrokerName().equals("broker-b")));
        assertEquals(Map.of("broker-a", 4), writeQueues(routeAfter), "write queues after broker-b died");
        assertEquals(Map.of("broker-a", addrA), masterAddrs(routeAfter));
        ClusterInfo ciAfter = admin.examineBrokerClusterInfo();
        assertFalse(ciAfter.getBrokerAddrTable().containsKey("broker-b"), "cluster info still lists broker-b: "
            + ciAfter.getBrokerAddrTable().keySet());
        assertEquals(Set.of("broker-a"), ciAfter.getClusterAddrTable().get(CLUSTER), "brokers of " + CLUSTER + " after broker-b died");

        // The running consumer keeps consuming broker-a: it must now have exactly all 250.
        List<Msgs.Sent> all = new ArrayList<>(first);
        all.addAll(second);
        Map<String, Msgs.Sent> wantAll = Msgs.bySeq(all);
        got.awaitAll(wantAll.keySet(), 30_000);
        Thread.sleep(2_000);
        Msgs.assertExactly("push consumer after broker-b died (200 before + 50 after)", wantAll, got, brokers);
    }

    static Map<String, Integer> writeQueues(TopicRouteData r) {
        Map<String, Integer> m = new TreeMap<>();
        for (QueueData q : r.getQueueDatas()) {
            m.merge(q.getBrokerName(), q.getWriteQueueNums(), Integer::sum);
        }
        return m;
    }

    static Map<String, String> masterAddrs(TopicRouteData r) {
        Map<String, String> m = new TreeMap<>();
        for (BrokerData b : r.getBrokerDatas()) {
            m.put(b.getBrokerName(), b.getBrokerAddrs().get(0L));
        }
        return m;
    }
}
