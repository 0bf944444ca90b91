package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.PullResult;
import org.apache.rocketmq.client.consumer.PullStatus;
import org.apache.rocketmq.client.impl.CommunicationMode;
import org.apache.rocketmq.client.impl.consumer.PullResultExt;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.filter.ExpressionType;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.common.sysflag.PullSysFlag;
import org.apache.rocketmq.remoting.protocol.header.PullMessageRequestHeader;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (a) Round trip against `rocketry standalone`: sync, async, oneway and batch sends with the official
 * producer; then a push consumer ("*"), a push consumer with a tag expression, and a lite pull consumer
 * must each receive exactly the messages sent, with identical content.
 *
 * <p>Request codes exercised: GET_ROUTEINFO_BY_TOPIC (105, incl. the TBW102 fallback for auto-create),
 * SEND_MESSAGE_V2 (310, sync/async/oneway), SEND_BATCH_MESSAGE (320), HEARTBEAT (34),
 * GET_CONSUMER_LIST_BY_GROUP (38), QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15),
 * PULL_MESSAGE (11, long polling), UNREGISTER_CLIENT (35).
 */
class RoundTripTest {
    @RegisterExtension
    static final Harness H = new Harness("roundtrip");

    static final long RECEIVE_TIMEOUT_MS = 30_000;
    /** After everything expected arrived, keep listening this long for duplicates / strays. */
    static final long GRACE_MS = 2_000;

    static String namesrv;
    static Map<String, String> brokers;
    static String topic;
    static DefaultMQProducer producer;
    static Map<String, Msgs.Sent> sent;

    static String tagFor(int i) {
        switch (i % 4) {
            case 0:
                return "TagA";
            case 1:
                return "TagB";
            case 2:
                return "TagC";
            default:
                return null; // no tag at all
        }
    }

    @BeforeAll
    static void startAndSend() throws Exception {
        int[] ports = Rocketry.freePorts(2);
        H.env().standalone("standalone", H.env().newDataDir("data"), ports[0], ports[1]);
        namesrv = Rocketry.LOOPBACK + ":" + ports[0];
        brokers = Map.of("broker-a", Rocketry.LOOPBACK + ":" + ports[1]);
        Clients.awaitAutoCreateRoute(H, namesrv, brokers.keySet());
        topic = Clients.unique("RoundTrip");
        producer = Clients.producer(H, namesrv);
        // Precondition for the "> 4096 B body is compressed by the client" cases below.
        assertEquals(4096, producer.getCompressMsgBodyOverHowmuch());

        List<Msgs.Sent> all = new ArrayList<>();

        // (i) sync: 20 messages, s-00 with a 10 000-byte body (compressed by the client)
        for (int i = 0; i < 20; i++) {
            Message m = Msgs.make(topic, String.format("s-%02d", i), tagFor(i), i == 0 ? 10_000 : 64 + i);
            Msgs.Sent s = Msgs.expect(m);
            SendResult r = producer.send(m);
            Msgs.sentAt(s, m);
            Msgs.record(s, r, topic);
            all.add(s);
        }

        // (ii) async: 20 messages, a-00 with a 6 000-byte body; wait for every callback
        CountDownLatch done = new CountDownLatch(20);
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        for (int i = 0; i < 20; i++) {
            Message m = Msgs.make(topic, String.format("a-%02d", i), tagFor(i), i == 0 ? 6_000 : 80 + i);
            Msgs.Sent s = Msgs.expect(m);
            all.add(s);
            producer.send(m, new SendCallback() {
                @Override
                public void onSuccess(SendResult r) {
                    try {
                        Msgs.sentAt(s, m);
                        Msgs.record(s, r, topic);
                    } catch (Throwable t) {
                        errors.add(t);
                    } finally {
                        done.countDown();
                    }
                }

                @Override
                public void onException(Throwable e) {
                    errors.add(new AssertionError("async send of " + s.seq + " failed", e));
                    done.countDown();
                }
            });
        }
        assertTrue(done.await(30, TimeUnit.SECONDS), "async send callbacks: " + done.getCount() + " never called");
        if (!errors.isEmpty()) {
            AssertionError e = new AssertionError(errors.size() + " async send(s) failed; first: " + errors.peek());
            errors.forEach(e::addSuppressed);
            throw e;
        }

        // (iii) oneway: 10 messages (no result; the consumers must still get them)
        for (int i = 0; i < 10; i++) {
            Message m = Msgs.make(topic, String.format("o-%02d", i), tagFor(i), 90 + i);
            Msgs.Sent s = Msgs.expect(m);
            producer.sendOneway(m);
            Msgs.sentAt(s, m);
            all.add(s);
        }

        // (iv) batch: 10 messages in one send(List<Message>)
        List<Message> batch = new ArrayList<>();
        List<Msgs.Sent> batchSent = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            Message m = Msgs.make(topic, String.format("b-%02d", i), tagFor(i), 100 + i);
            batch.add(m);
            batchSent.add(Msgs.expect(m));
        }
        SendResult br = producer.send(batch);
        for (int i = 0; i < batch.size(); i++) {
            Msgs.sentAt(batchSent.get(i), batch.get(i));
        }
        Msgs.recordBatch(batchSent, br, topic);
        all.addAll(batchSent);

        Msgs.assertDistinctPositions(all);
        sent = Msgs.bySeq(all);
        assertEquals(60, sent.size());
        for (Msgs.Sent s : all) {
            if (s.brokerName != null) {
                assertEquals("broker-a", s.brokerName, s.seq + " went to an unknown broker");
            }
        }
    }

    @Test
    void pushConsumerGetsEverything() throws Exception {
        Received got = new Received();
        Clients.push(H, namesrv, Clients.unique("CG_all"), topic, "*", got);
        boolean all = got.awaitAll(sent.keySet(), RECEIVE_TIMEOUT_MS);
        Thread.sleep(GRACE_MS);
        Msgs.assertExactly("push consumer '*'" + (all ? "" : " (timed out)"), sent, got, brokers);
    }

    @Test
    void pushConsumerWithTagExpression() throws Exception {
        Map<String, Msgs.Sent> want = Msgs.filter(sent, s -> "TagA".equals(s.tags) || "TagB".equals(s.tags));
        assertEquals(32, want.size()); // 10 sync + 10 async + 6 oneway + 6 batch
        Received got = new Received();
        Clients.push(H, namesrv, Clients.unique("CG_tags"), topic, "TagA || TagB", got);
        boolean all = got.awaitAll(want.keySet(), RECEIVE_TIMEOUT_MS);
        Thread.sleep(GRACE_MS);
        Msgs.assertExactly("push consumer 'TagA || TagB'" + (all ? "" : " (timed out)"), want, got, brokers);
    }

    /**
     * The official clients re-filter tags themselves, so the consumer test above passes even against a
     * broker that ignores the expression. This pulls raw (PULL_MESSAGE with the subscription flag and
     * expression in the request, as the Java client sends it) and checks that the broker itself returns
     * only TagA/TagB messages, and all of them, as the Java broker does (it filters by tag hash code).
     */
    @Test
    void brokerFiltersByTagOnPull() throws Exception {
        Map<String, Msgs.Sent> want = Msgs.filter(sent, s -> "TagA".equals(s.tags) || "TagB".equals(s.tags));
        String group = Clients.unique("CG_raw");
        List<MessageQueue> mqs = producer.fetchPublishMessageQueues(topic);
        var api = producer.getDefaultMQProducerImpl().getMqClientFactory().getMQClientAPIImpl();
        Received got = new Received();
        for (MessageQueue mq : mqs) {
            long offset = 0;
            for (int round = 0; round < 50; round++) {
                PullMessageRequestHeader h = new PullMessageRequestHeader();
                h.setConsumerGroup(group);
                h.setTopic(topic);
                h.setQueueId(mq.getQueueId());
                h.setQueueOffset(offset);
                h.setMaxMsgNums(32);
                h.setSysFlag(PullSysFlag.buildSysFlag(false, false, true, false));
                h.setCommitOffset(0L);
                h.setSuspendTimeoutMillis(0L);
                h.setSubscription("TagA || TagB");
                h.setSubVersion(System.currentTimeMillis());
                h.setExpressionType(ExpressionType.TAG);
                PullResult r = api.pullMessage(brokers.get(mq.getBrokerName()), h, 10_000, CommunicationMode.SYNC, null);
                if (r.getPullStatus() == PullStatus.FOUND) {
                    byte[] bin = ((PullResultExt) r).getMessageBinary();
                    assertNotNull(bin, "FOUND without a body");
                    List<MessageExt> ms = MessageDecoder.decodesBatch(ByteBuffer.wrap(bin), true, true, true);
                    assertTrue(!ms.isEmpty(), "FOUND with no messages in the body");
                    for (MessageExt m : ms) {
                        m.setBrokerName(mq.getBrokerName());
                        got.add(m);
                    }
                } else if (r.getPullStatus() != PullStatus.NO_MATCHED_MSG) {
                    break; // NO_NEW_MSG: end of queue
                }
                assertTrue(r.getNextBeginOffset() > offset || r.getPullStatus() != PullStatus.FOUND,
                    "nextBeginOffset did not advance on " + mq + " at " + offset);
                if (r.getNextBeginOffset() <= offset) {
                    break;
                }
                offset = r.getNextBeginOffset();
            }
        }
        Map<String, java.util.List<MessageExt>> recv = got.snapshot();
        Set<String> wrongTags = new TreeSet<>();
        recv.forEach((seq, l) -> {
            String t = l.get(0).getTags();
            if (!"TagA".equals(t) && !"TagB".equals(t)) {
                wrongTags.add(seq + "=" + t);
            }
        });
        if (!wrongTags.isEmpty()) {
            fail("broker returned messages that do not match 'TagA || TagB' (the Java broker filters these out): " + wrongTags);
        }
        Msgs.assertExactly("raw pull with 'TagA || TagB'", want, got, brokers);
    }

    @Test
    void litePullConsumerGetsEverything() throws Exception {
        DefaultLitePullConsumer c = Clients.litePull(H, namesrv, Clients.unique("CG_lite"), topic, "*");
        Received got = new Received();
        long deadline = System.currentTimeMillis() + RECEIVE_TIMEOUT_MS;
        while (System.currentTimeMillis() < deadline && !got.snapshot().keySet().containsAll(sent.keySet())) {
            got.addAll(c.poll(500));
        }
        long graceEnd = System.currentTimeMillis() + GRACE_MS;
        while (System.currentTimeMillis() < graceEnd) {
            got.addAll(c.poll(200));
        }
        Msgs.assertExactly("lite pull consumer '*'", sent, got, brokers);
    }
}
