package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (d) Messages and consumer offsets survive a clean broker restart (SIGTERM, then the same command on
 * the same ports and data dir): a consumer group that consumed the first 50 messages gets exactly the
 * 50 sent after the restart; the new messages continue each queue's offsets; and a fresh group reading
 * from the first offset gets all 100.
 *
 * <p>What the broker must honour, besides (c): flush consumer offsets and the CommitLog/ConsumeQueues
 * on SIGTERM and exit 0; on start, recover the topic config (and register it with the NameServer),
 * the messages, the queue offsets and the consumer offsets.
 */
class BrokerRestartTest {
    @RegisterExtension
    static final Harness H = new Harness("broker-restart");

    @Test
    void offsetsAndMessagesSurviveSigtermRestart() throws Exception {
        int[] ports = Rocketry.freePorts(2);
        Rocketry.Proc proc = H.env().standalone("standalone", H.env().newDataDir("data"), ports[0], ports[1]);
        String namesrv = Rocketry.LOOPBACK + ":" + ports[0];
        Map<String, String> brokers = Map.of("broker-a", Rocketry.LOOPBACK + ":" + ports[1]);
        Clients.awaitAutoCreateRoute(H, namesrv, brokers.keySet());
        String topic = Clients.unique("BrokerRestart");
        String group = Clients.unique("CG_brestart");

        DefaultMQProducer p1 = Clients.producer(H, namesrv);
        List<Msgs.Sent> first = Msgs.sendSync(p1, topic, "d1", 50);
        Received got1 = new Received();
        DefaultMQPushConsumer c1 = Clients.push(H, namesrv, group, topic, "*", got1);
        Map<String, Msgs.Sent> want1 = Msgs.bySeq(first);
        got1.awaitAll(want1.keySet(), 30_000);
        Thread.sleep(2_000); // let the consumed offsets be committed
        Msgs.assertExactly("consumer before the restart", want1, got1, brokers);
        c1.shutdown(); // commits its offsets (oneway UPDATE_CONSUMER_OFFSET) and unregisters
        p1.shutdown();
        Thread.sleep(1_000); // the oneway offset update is in flight; give the broker a moment before SIGTERM

        int exit = proc.terminate();
        assertEquals(0, exit, "exit code of rocketry standalone after SIGTERM (clean shutdown)");
        proc.start(); // same command line: same ports, same data dir
        Clients.awaitAutoCreateRoute(H, namesrv, brokers.keySet());

        DefaultMQProducer p2 = Clients.producer(H, namesrv);
        List<Msgs.Sent> second = Msgs.sendSync(p2, topic, "d2", 50);
        List<Msgs.Sent> both = new ArrayList<>(first);
        both.addAll(second);
        // The queues' offsets must continue after the restart: no position may be handed out twice.
        Msgs.assertDistinctPositions(both);

        Received got2 = new Received();
        Clients.push(H, namesrv, group, topic, "*", got2);
        Map<String, Msgs.Sent> want2 = Msgs.bySeq(second);
        got2.awaitAll(want2.keySet(), 30_000);
        Thread.sleep(3_000); // re-deliveries of the first 50 would show up by now
        Msgs.assertExactly("same group after the broker restart (exactly the 50 new messages)", want2, got2, brokers);

        DefaultLitePullConsumer lite = Clients.litePull(H, namesrv, Clients.unique("CG_fresh"), topic, "*");
        Map<String, Msgs.Sent> wantAll = Msgs.bySeq(both);
        Received all = new Received();
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline && !all.snapshot().keySet().containsAll(wantAll.keySet())) {
            all.addAll(lite.poll(500));
        }
        long graceEnd = System.currentTimeMillis() + 2_000;
        while (System.currentTimeMillis() < graceEnd) {
            all.addAll(lite.poll(200));
        }
        Msgs.assertExactly("fresh group from the first offset after the restart (all 100 stored)", wantAll, all, brokers);
    }
}
