package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Transactional messages with the official Java TransactionMQProducer: half messages stay
 * invisible until committed (END_TRANSACTION, 37), rolled-back ones are never delivered,
 * undecided ones are checked back (CHECK_TRANSACTION_STATE, 39) and committed by the checker,
 * and one never decided goes to TRANS_CHECK_MAX_TIME_TOPIC after transactionCheckMax checks.
 */
class TransactionTest {
    @RegisterExtension
    static final Harness H = new Harness("transaction");

    static String namesrv;
    static String brokerAddr;
    static DefaultMQAdminExt admin;

    @BeforeAll
    static void start() throws Exception {
        Clients.Addrs a = Clients.standalone(H, "transactionTimeOut=1000", "transactionCheckInterval=1000", "transactionCheckMax=3");
        namesrv = a.namesrv();
        brokerAddr = a.brokerAddr();
        admin = Clients.admin(H, namesrv);
    }

    static TransactionMQProducer producer(TransactionListener listener) throws Exception {
        return producer(Clients.unique("TxPG"), listener);
    }

    static TransactionMQProducer producer(String group, TransactionListener listener) throws Exception {
        TransactionMQProducer p = new TransactionMQProducer(group);
        p.setNamesrvAddr(namesrv);
        p.setInstanceName(Clients.unique("tx"));
        p.setClientIP(Rocketry.LOOPBACK);
        p.setHeartbeatBrokerInterval(1000);
        p.setTransactionListener(listener);
        p.start();
        H.track(p::shutdown);
        return p;
    }

    @Test
    void commitRollbackAndCheckBack() throws Exception {
        String topic = Clients.unique("TxTopic");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 4, 4, 6));
        Map<String, Long> checkedAt = new ConcurrentHashMap<>();
        Map<String, Long> sentAt = new ConcurrentHashMap<>();
        TransactionMQProducer producer = producer(new TransactionListener() {
            @Override
            public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                switch (msg.getUserProperty("kind")) {
                    case "commit": return LocalTransactionState.COMMIT_MESSAGE;
                    case "rollback": return LocalTransactionState.ROLLBACK_MESSAGE;
                    default: return LocalTransactionState.UNKNOW;
                }
            }

            @Override
            public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                checkedAt.putIfAbsent(msg.getUserProperty("id"), System.currentTimeMillis());
                return LocalTransactionState.COMMIT_MESSAGE;
            }
        });
        Map<String, MessageExt> got = new ConcurrentHashMap<>();
        AtomicInteger deliveries = new AtomicInteger();
        Clients.pushWith(H, namesrv, Clients.unique("TxConsumer"), topic, (MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(m -> {
                deliveries.incrementAndGet();
                got.put(m.getUserProperty("id"), m);
            });
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        }, c -> { });
        Set<String> expected = new TreeSet<>();
        Map<String, String> msgIds = new ConcurrentHashMap<>();
        String[] kinds = {"commit", "rollback", "unknown"};
        for (int i = 0; i < 9; i++) {
            String kind = kinds[i % 3];
            String id = kind + "-" + i;
            Message m = new Message(topic, "TagTx", "key-" + id, id.getBytes(StandardCharsets.UTF_8));
            m.putUserProperty("kind", kind);
            m.putUserProperty("id", id);
            sentAt.put(id, System.currentTimeMillis());
            TransactionSendResult r = producer.sendMessageInTransaction(m, null);
            assertEquals(SendStatus.SEND_OK, r.getSendStatus());
            msgIds.put(id, r.getMsgId());
            if (!kind.equals("rollback")) {
                expected.add(id);
            }
        }
        Wait.until("the committed and the checked messages", 30_000, () -> new TreeSet<>(got.keySet()), s -> s.equals(expected));
        Thread.sleep(3_000);
        assertEquals(expected, new TreeSet<>(got.keySet()), "never a rolled-back message");
        assertEquals(expected.size(), deliveries.get(), "each committed message once");
        for (String id : expected) {
            MessageExt m = got.get(id);
            assertEquals(msgIds.get(id), m.getMsgId(), "the message id the producer was given: " + id);
            assertEquals("TagTx", m.getTags());
            assertEquals("key-" + id, m.getKeys());
            // As the Java broker's committed message (DifferentialTest compares them).
            assertEquals("true", m.getProperty("TRAN_MSG"), "the transaction marker stays");
            assertEquals(id, new String(m.getBody(), StandardCharsets.UTF_8));
        }
        for (String id : expected) {
            if (id.startsWith("unknown")) {
                assertTrue(checkedAt.containsKey(id), "checked back: " + id);
                long waited = checkedAt.get(id) - sentAt.get(id);
                assertTrue(waited >= 900, "not checked before transactionTimeOut: " + id + " after " + waited + " ms");
            } else {
                assertTrue(!checkedAt.containsKey(id), "a decided transaction is never checked: " + id);
            }
        }
    }

    /**
     * A producer leaves its transactions undecided and goes away; another instance of its group
     * answers the checks: one committed, one rolled back.
     */
    @Test
    void anotherInstanceOfTheGroupAnswersTheChecks() throws Exception {
        String topic = Clients.unique("TxFailover");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 2, 2, 6));
        String group = Clients.unique("TxFailoverPG");
        TransactionMQProducer first = producer(group, new TransactionListener() {
            @Override
            public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                return LocalTransactionState.UNKNOW;
            }

            @Override
            public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                throw new IllegalStateException("the first instance is gone and never answers");
            }
        });
        for (String id : new String[] {"keep", "drop"}) {
            Message m = new Message(topic, id.getBytes(StandardCharsets.UTF_8));
            m.putUserProperty("id", id);
            assertEquals(SendStatus.SEND_OK, first.sendMessageInTransaction(m, null).getSendStatus());
        }
        first.shutdown();
        Set<String> checked = ConcurrentHashMap.newKeySet();
        TransactionMQProducer second = producer(group, new TransactionListener() {
            @Override
            public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                return LocalTransactionState.UNKNOW;
            }

            @Override
            public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                String id = msg.getUserProperty("id");
                checked.add(id);
                return id.equals("keep") ? LocalTransactionState.COMMIT_MESSAGE : LocalTransactionState.ROLLBACK_MESSAGE;
            }
        });
        // A Java producer heartbeats only to brokers it has routes for: this one sends (to
        // another topic) as a live instance of the group would.
        second.send(new Message(Clients.unique("TxWarmup"), "warm-up".getBytes(StandardCharsets.UTF_8)));
        Map<String, Integer> got = new ConcurrentHashMap<>();
        Clients.pushWith(H, namesrv, Clients.unique("TxFailoverConsumer"), topic, (MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(m -> got.merge(m.getUserProperty("id"), 1, Integer::sum));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        }, c -> { });
        Wait.until("the checked-and-committed message", 30_000, () -> Map.copyOf(got), g -> g.containsKey("keep"));
        Wait.until("both checked", 10_000, () -> Set.copyOf(checked), c -> c.equals(Set.of("keep", "drop")));
        Thread.sleep(2_000);
        assertEquals(Map.of("keep", 1), got, "committed once by the check; the rolled-back one never");
    }

    @Test
    void neverDecidedGoesToTheCheckMaxTopic() throws Exception {
        String topic = Clients.unique("TxUndecided");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 1, 1, 6));
        AtomicInteger checks = new AtomicInteger();
        TransactionMQProducer producer = producer(new TransactionListener() {
            @Override
            public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                return LocalTransactionState.UNKNOW;
            }

            @Override
            public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                checks.incrementAndGet();
                return LocalTransactionState.UNKNOW;
            }
        });
        long before = admin.examineTopicStats("TRANS_CHECK_MAX_TIME_TOPIC").getOffsetTable().values().stream()
            .mapToLong(o -> o.getMaxOffset()).sum();
        producer.sendMessageInTransaction(new Message(topic, "never-decided".getBytes(StandardCharsets.UTF_8)), null);
        Wait.until("the undecided message in TRANS_CHECK_MAX_TIME_TOPIC", 30_000,
            () -> admin.examineTopicStats("TRANS_CHECK_MAX_TIME_TOPIC").getOffsetTable().values().stream().mapToLong(o -> o.getMaxOffset()).sum(),
            n -> n == before + 1);
        assertEquals(3, checks.get(), "checked transactionCheckMax times");
        assertEquals(0, admin.examineTopicStats(topic).getOffsetTable().values().stream().mapToLong(o -> o.getMaxOffset()).sum(),
            "never delivered to its topic");
    }
}
