package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageAccessor;
import org.apache.rocketmq.common.message.MessageClientExt;
import org.apache.rocketmq.common.message.MessageClientIDSetter;
import org.apache.rocketmq.common.message.MessageConst;
import org.junit.jupiter.api.Test;

/** The comparator must reject every kind of mismatch (needs no rocketry binary). */
class MsgsSelfTest {
    static final String T = "SelfTopic";
    static final Map<String, String> BROKERS = Map.of("broker-a", "127.0.0.1:10911");

    static Msgs.Sent sent(String seq) {
        Message m = Msgs.make(T, seq, "TagA", 50);
        Msgs.Sent s = Msgs.expect(m);
        MessageClientIDSetter.setUniqID(m);
        Msgs.sentAt(s, m);
        s.brokerName = "broker-a";
        s.queueId = 1;
        s.queueOffset = 7L;
        s.offsetMsgId = "OFF-" + seq;
        return s;
    }

    /** What a consumer would decode for s. */
    static MessageClientExt delivered(Msgs.Sent s) {
        MessageClientExt m = new MessageClientExt();
        m.setTopic(s.topic);
        m.setBody(s.body.clone());
        m.setTags(s.tags);
        m.setKeys(s.keys);
        s.userProps.forEach(m::putUserProperty);
        MessageAccessor.putProperty(m, MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX, s.uniqId);
        MessageAccessor.putProperty(m, MessageConst.PROPERTY_CONSUME_START_TIMESTAMP, "1");
        m.setBornTimestamp(s.bornBefore);
        m.setStoreTimestamp(s.bornBefore);
        m.setBrokerName(s.brokerName);
        m.setQueueId(s.queueId);
        m.setQueueOffset(s.queueOffset);
        m.setOffsetMsgId(s.offsetMsgId);
        m.setStoreHost(new InetSocketAddress("127.0.0.1", 10911));
        return m;
    }

    static void check(Map<String, Msgs.Sent> want, List<MessageClientExt> got) {
        Received r = new Received();
        got.forEach(r::add);
        Msgs.assertExactly("self", want, r, BROKERS);
    }

    @Test
    void acceptsAnExactMatchAndRejectsEveryDeviation() {
        Msgs.Sent a = sent("a");
        Msgs.Sent b = sent("b");
        b.queueOffset = 8L;
        Map<String, Msgs.Sent> want = Msgs.bySeq(List.of(a, b));
        check(want, List.of(delivered(a), delivered(b)));

        assertThrows(AssertionError.class, () -> check(want, List.of(delivered(a))), "missing");
        assertThrows(AssertionError.class, () -> check(want, List.of(delivered(a), delivered(b), delivered(sent("c")))), "extra");
        assertThrows(AssertionError.class, () -> check(want, List.of(delivered(a), delivered(b), delivered(b))), "duplicate");

        MessageClientExt body = delivered(b);
        body.getBody()[0] ^= 1;
        assertThrows(AssertionError.class, () -> check(want, List.of(delivered(a), body)), "body");
        MessageClientExt tags = delivered(b);
        tags.setTags("TagB");
        assertThrows(AssertionError.class, () -> check(want, List.of(delivered(a), tags)), "tags");
        MessageClientExt keys = delivered(b);
        keys.setKeys("k-b");
        assertThrows(AssertionError.class, () -> check(want, List.of(delivered(a), keys)), "keys");
        MessageClientExt prop = delivered(b);
        prop.putUserProperty("greeting", "hello");
        assertThrows(AssertionError.class, () -> check(want, List.of(delivered(a), prop)), "user property value");
        MessageClientExt extraProp = delivered(b);
        extraProp.putUserProperty("junk", "1");
        assertThrows(AssertionError.class, () -> check(want, List.of(delivered(a), extraProp)), "extra user property");
        MessageClientExt offset = delivered(b);
        offset.setQueueOffset(9);
        assertThrows(AssertionError.class, () -> check(want, List.of(delivered(a), offset)), "queue offset");
        MessageClientExt host = delivered(b);
        host.setStoreHost(new InetSocketAddress("127.0.0.1", 1));
        assertThrows(AssertionError.class, () -> check(want, List.of(delivered(a), host)), "store host");
        MessageClientExt id = delivered(b);
        id.setOffsetMsgId("OTHER");
        assertThrows(AssertionError.class, () -> check(want, List.of(delivered(a), id)), "offsetMsgId");
    }

    @Test
    void messagesCarryNonAsciiAndCompressibleBodies() {
        Message m = Msgs.make(T, "x", null, 10_000);
        assertTrue(m.getBody().length >= 10_000);
        assertTrue(new String(m.getBody(), java.nio.charset.StandardCharsets.UTF_8).contains(Msgs.NON_ASCII));
        assertTrue(m.getKeys().contains("ключ-x"));
    }
}
