package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.MessageSelector;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * SQL92 message filters with the official Java client: `MessageSelector.bySql` on push and
 * lite-pull consumers (CHECK_CLIENT_CONFIG at start, the expression in heartbeats and pulls),
 * beside a tag consumer of the same topic; a broker without enablePropertyFilter refuses them.
 */
class Sql92FilterTest {
    @RegisterExtension
    static final Harness H = new Harness("sql92");

    static String namesrv;
    static DefaultMQProducer producer;

    @BeforeAll
    static void start() throws Exception {
        namesrv = Clients.standalone(H, "enablePropertyFilter=true").namesrv();
        producer = Clients.producer(H, namesrv);
    }

    /** 40 messages: n = 0..39, tag A for even n and B for odd, color red when n % 3 == 0. */
    static void sendMixed(String topic) throws Exception {
        for (int n = 0; n < 40; n++) {
            Message m = new Message(topic, n % 2 == 0 ? "A" : "B", ("m" + n).getBytes(StandardCharsets.UTF_8));
            m.putUserProperty("n", Integer.toString(n));
            if (n % 3 == 0) {
                m.putUserProperty("color", "red");
            }
            assertEquals(SendStatus.SEND_OK, producer.send(m).getSendStatus());
        }
    }

    static Set<String> expected(java.util.function.IntPredicate p) {
        Set<String> out = new TreeSet<>();
        for (int n = 0; n < 40; n++) {
            if (p.test(n)) {
                out.add("m" + n);
            }
        }
        return out;
    }

    static DefaultMQPushConsumer push(String group, String topic, MessageSelector selector, Set<String> into) throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        c.setNamesrvAddr(namesrv);
        c.setInstanceName(Clients.unique("sqlpush"));
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, selector);
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                into.add(new String(m.getBody(), StandardCharsets.UTF_8));
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        H.track(c::shutdown);
        return c;
    }

    @Test
    void pushConsumersGetExactlyWhatTheirSqlAndTagsSelect() throws Exception {
        String topic = Clients.unique("SqlTopic");
        sendMixed(topic);
        Set<String> sql = ConcurrentHashMap.newKeySet();
        Set<String> tags = ConcurrentHashMap.newKeySet();
        Set<String> keyed = ConcurrentHashMap.newKeySet();
        push(Clients.unique("sql_group"), topic, MessageSelector.bySql("n BETWEEN 10 AND 30 AND color = 'red'"), sql);
        push(Clients.unique("tag_group"), topic, MessageSelector.byTag("B"), tags);
        push(Clients.unique("sql_tags_group"), topic, MessageSelector.bySql("TAGS = 'A' AND (color IS NULL OR n < 4)"), keyed);
        Set<String> wantSql = expected(n -> n >= 10 && n <= 30 && n % 3 == 0);
        Set<String> wantTags = expected(n -> n % 2 == 1);
        Set<String> wantKeyed = expected(n -> n % 2 == 0 && (n % 3 != 0 || n < 4));
        Wait.until("the SQL consumer's matches", 60_000, () -> sql.size(), n -> n >= wantSql.size());
        Wait.until("the tag consumer's matches", 60_000, () -> tags.size(), n -> n >= wantTags.size());
        Wait.until("the TAGS-in-SQL consumer's matches", 60_000, () -> keyed.size(), n -> n >= wantKeyed.size());
        Thread.sleep(1500);
        assertEquals(wantSql, new TreeSet<>(sql));
        assertEquals(wantTags, new TreeSet<>(tags));
        assertEquals(wantKeyed, new TreeSet<>(keyed));
    }

    @Test
    void aLitePullConsumerFiltersBySql() throws Exception {
        String topic = Clients.unique("SqlLiteTopic");
        sendMixed(topic);
        DefaultLitePullConsumer c = new DefaultLitePullConsumer(Clients.unique("sql_lite_group"));
        c.setNamesrvAddr(namesrv);
        c.setInstanceName(Clients.unique("sqllite"));
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, MessageSelector.bySql("n >= 35 OR color = 'red' AND n < 7"));
        c.start();
        H.track(c::shutdown);
        Set<String> got = new TreeSet<>();
        Set<String> want = expected(n -> n >= 35 || (n % 3 == 0 && n < 7));
        long end = System.currentTimeMillis() + 60_000;
        while (got.size() < want.size() && System.currentTimeMillis() < end) {
            for (MessageExt m : c.poll(1000)) {
                got.add(new String(m.getBody(), StandardCharsets.UTF_8));
            }
        }
        for (MessageExt m : c.poll(1500)) {
            got.add(new String(m.getBody(), StandardCharsets.UTF_8));
        }
        assertEquals(want, got);
    }

    @Test
    void aBadExpressionOrABrokerWithoutPropertyFiltersFailsTheConsumersStart() throws Exception {
        String topic = Clients.unique("SqlBadTopic");
        sendMixed(topic);
        MQClientException bad = assertThrows(MQClientException.class,
            () -> push(Clients.unique("sql_bad_group"), topic, MessageSelector.bySql("n >"), ConcurrentHashMap.newKeySet()));
        assertTrue(String.valueOf(bad.getMessage()).contains("position"), bad.getMessage());
        String plain = Clients.standalone(H).namesrv();
        DefaultMQProducer p = Clients.producer(H, plain);
        String topic2 = Clients.unique("SqlOffTopic");
        assertEquals(SendStatus.SEND_OK, p.send(new Message(topic2, "A", "x".getBytes(StandardCharsets.UTF_8))).getSendStatus());
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(Clients.unique("sql_off_group"));
        c.setNamesrvAddr(plain);
        c.setInstanceName(Clients.unique("sqloff"));
        c.subscribe(topic2, MessageSelector.bySql("n > 1"));
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> ConsumeConcurrentlyStatus.CONSUME_SUCCESS);
        H.track(c::shutdown);
        MQClientException off = assertThrows(MQClientException.class, c::start);
        assertTrue(String.valueOf(off.getMessage()).contains("SQL92"), off.getMessage());
    }

    @Test
    void aSubscriptionChangedWhileRunningAppliesToWhatFollows() throws Exception {
        String topic = Clients.unique("SqlChangeTopic");
        sendMixed(topic);
        Set<String> got = ConcurrentHashMap.newKeySet();
        DefaultMQPushConsumer c = push(Clients.unique("sql_change_group"), topic, MessageSelector.bySql("n < 5"), got);
        Wait.until("the first expression's matches", 60_000, () -> got.size(), n -> n >= 5);
        Thread.sleep(1000);
        assertEquals(expected(n -> n < 5), new TreeSet<>(got));
        got.clear();
        c.subscribe(topic, MessageSelector.bySql("n >= 105"));
        Thread.sleep(3000);
        for (int n = 100; n < 110; n++) {
            Message m = new Message(topic, "A", ("m" + n).getBytes(StandardCharsets.UTF_8));
            m.putUserProperty("n", Integer.toString(n));
            assertEquals(SendStatus.SEND_OK, producer.send(m).getSendStatus());
        }
        Wait.until("the new expression's matches", 60_000, () -> got.size(), n -> n >= 5);
        Thread.sleep(1500);
        assertEquals(Set.of("m105", "m106", "m107", "m108", "m109"), new TreeSet<>(got));
    }
}
