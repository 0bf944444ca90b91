package rocketry.compat;

import java.util.List;
import java.util.Map;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (c) Consumer offsets survive a consumer restart: a push consumer group consumes 50 messages and
 * shuts down; 50 more are sent; a new push consumer of the same group must get exactly the new 50.
 *
 * <p>What the broker must honour: the offsets the Java push consumer commits, which it sends (1) as
 * the commitOffset of its PULL_MESSAGE requests (sysFlag bit FLAG_COMMIT_OFFSET) and (2) as oneway
 * UPDATE_CONSUMER_OFFSET (15) requests on shutdown (and every persistConsumerOffsetInterval, but the
 * client's first periodic persist only runs 10 s after start, so within this test it is mostly (1)
 * and (2)); and QUERY_CONSUMER_OFFSET (14) returning them to the new consumer.
 *
 * <p>The Java client is at-least-once: re-delivery after a restart is legal in general (e.g. if the
 * consumer is killed before it commits). Here the first consumer is shut down cleanly after all its
 * messages were consumed and its offsets had 2 s to be committed, so the Java broker delivers none of
 * the first 50 again; a re-delivery here means the broker lost or ignored a committed offset.
 */
class ConsumerRestartTest {
    @RegisterExtension
    static final Harness H = new Harness("consumer-restart");

    @Test
    void newConsumerOfTheGroupGetsOnlyNewMessages() throws Exception {
        int[] ports = Rocketry.freePorts(2);
        H.env().standalone("standalone", H.env().newDataDir("data"), ports[0], ports[1]);
        String namesrv = Rocketry.LOOPBACK + ":" + ports[0];
        Map<String, String> brokers = Map.of("broker-a", Rocketry.LOOPBACK + ":" + ports[1]);
        Clients.awaitAutoCreateRoute(H, namesrv, brokers.keySet());
        String topic = Clients.unique("ConsumerRestart");
        String group = Clients.unique("CG_restart");
        DefaultMQProducer producer = Clients.producer(H, namesrv);

        List<Msgs.Sent> first = Msgs.sendSync(producer, topic, "c1", 50);
        Received got1 = new Received();
        DefaultMQPushConsumer c1 = Clients.push(H, namesrv, group, topic, "*", got1);
        Map<String, Msgs.Sent> want1 = Msgs.bySeq(first);
        got1.awaitAll(want1.keySet(), 30_000);
        Thread.sleep(2_000); // let the consumed offsets be committed
        Msgs.assertExactly("first consumer, first 50", want1, got1, brokers);
        c1.shutdown();

        List<Msgs.Sent> second = Msgs.sendSync(producer, topic, "c2", 50);
        Received got2 = new Received();
        Clients.push(H, namesrv, group, topic, "*", got2);
        Map<String, Msgs.Sent> want2 = Msgs.bySeq(second);
        got2.awaitAll(want2.keySet(), 30_000);
        Thread.sleep(3_000); // re-deliveries of the first 50 would show up by now
        Msgs.assertExactly("second consumer of the same group (must get exactly the 50 new messages, none of the first 50)",
            want2, got2, brokers);
    }
}
