package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageClientExt;
import org.apache.rocketmq.common.message.MessageClientIDSetter;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Messages with distinctive content, and exact comparison of what was sent with what a consumer got.
 *
 * <p>Every message carries a user property {@value #SEQ} that names it; bodies, keys and other user
 * properties are derived from it, with non-ASCII text throughout. A received message must match its
 * sent counterpart in topic, body, tags, keys, the complete set of user properties (every property
 * that is not a system property of {@link MessageConst#STRING_HASH_SET}), its client message id
 * (UNIQ_KEY), and — where the send returned a SendResult — queue, queue offset, broker and offsetMsgId.
 */
final class Msgs {
    static final String SEQ = "seq";
    static final String NON_ASCII = "héllo 世界 🚀";

    private Msgs() {
    }

    /** What was sent, plus what the broker said about it (null where unknown, e.g. oneway). */
    static final class Sent {
        final String seq;
        final String topic;
        final byte[] body;
        final String tags;
        final String keys;
        final Map<String, String> userProps;
        final long bornAfter;
        String uniqId;
        long bornBefore;
        String brokerName;
        Integer queueId;
        Long queueOffset;
        String offsetMsgId;

        Sent(Message m, Map<String, String> userProps) {
            this.seq = userProps.get(SEQ);
            this.topic = m.getTopic();
            this.body = m.getBody().clone();
            this.tags = m.getTags();
            this.keys = m.getKeys();
            this.userProps = Map.copyOf(userProps);
            this.bornAfter = System.currentTimeMillis();
        }

        @Override
        public String toString() {
            return seq + "{tags=" + tags + ", keys=" + keys + ", body " + body.length + " B, q=" + brokerName + "/" + queueId
                + "@" + queueOffset + "}";
        }
    }

    /**
     * A message named seq: body "seq|héllo 世界 🚀|..." padded to at least bodyBytes with a
     * seq-dependent pattern, keys "k-seq" and "ключ-seq" (plus extraKeys), and user properties.
     */
    static Message make(String topic, String seq, String tags, int bodyBytes, String... extraKeys) {
        StringBuilder sb = new StringBuilder(seq).append('|').append(NON_ASCII).append('|');
        int len = sb.toString().getBytes(StandardCharsets.UTF_8).length;
        for (int i = 0; len < bodyBytes; i++) {
            String piece = (seq.hashCode() * 31 + i) + (i % 7 == 0 ? "ß" : "-");
            sb.append(piece);
            len += piece.getBytes(StandardCharsets.UTF_8).length;
        }
        Message m = new Message(topic, sb.toString().getBytes(StandardCharsets.UTF_8));
        if (tags != null) {
            m.setTags(tags);
        }
        List<String> keys = new ArrayList<>(List.of("k-" + seq, "ключ-" + seq));
        keys.addAll(Arrays.asList(extraKeys));
        m.setKeys(keys);
        m.putUserProperty(SEQ, seq);
        m.putUserProperty("greeting", NON_ASCII + " " + seq);
        m.putUserProperty("größe", String.valueOf(bodyBytes));
        m.putUserProperty("x-Mixed_Case.key", "v=" + seq + ";a:b,c");
        return m;
    }

    /** Expectation for a message about to be sent (call before send; then record the result). */
    static Sent expect(Message m) {
        Map<String, String> user = new TreeMap<>();
        m.getProperties().forEach((k, v) -> {
            if (!MessageConst.STRING_HASH_SET.contains(k)) {
                user.put(k, v);
            }
        });
        return new Sent(m, user);
    }

    /**
     * After the send completed (for async sends: in the callback, since the client sets UNIQ_KEY and the
     * born time on its async executor): the client-generated UNIQ_KEY and the born-time window.
     */
    static void sentAt(Sent s, Message m) {
        s.uniqId = MessageClientIDSetter.getUniqID(m);
        s.bornBefore = System.currentTimeMillis();
        assertNotNull(s.uniqId, "client set no UNIQ_KEY on " + s.seq);
    }

    /** Checks a single-message SendResult and records queue, offset, broker, offsetMsgId. */
    static void record(Sent s, SendResult r, String topic) {
        assertNotNull(r, "no SendResult for " + s.seq);
        assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "send status of " + s.seq + ": " + r);
        assertNotNull(r.getMsgId(), "msgId of " + s.seq);
        assertNotNull(r.getOffsetMsgId(), "offsetMsgId of " + s.seq);
        assertEquals(s.uniqId, r.getMsgId(), "SendResult.msgId must be the client's UNIQ_KEY for " + s.seq);
        assertEquals(topic, r.getMessageQueue().getTopic());
        assertTrue(r.getQueueOffset() >= 0, "queueOffset of " + s.seq + ": " + r);
        s.brokerName = r.getMessageQueue().getBrokerName();
        s.queueId = r.getMessageQueue().getQueueId();
        s.queueOffset = r.getQueueOffset();
        s.offsetMsgId = r.getOffsetMsgId();
    }

    /** Checks a batch SendResult: one id per message, consecutive queue offsets from the result's offset. */
    static void recordBatch(List<Sent> batch, SendResult r, String topic) {
        assertNotNull(r, "no SendResult for batch");
        assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "batch send status: " + r);
        assertNotNull(r.getMsgId(), "batch msgId");
        assertNotNull(r.getOffsetMsgId(), "batch offsetMsgId");
        assertEquals(batch.stream().map(s -> s.uniqId).collect(Collectors.joining(",")), r.getMsgId(),
            "batch SendResult.msgId must list the messages' UNIQ_KEYs in order");
        String[] offsetIds = r.getOffsetMsgId().split(",");
        assertEquals(batch.size(), offsetIds.length,
            "batch offsetMsgId must list one offset message id per message (Java broker: comma-separated): " + r.getOffsetMsgId());
        assertEquals(topic, r.getMessageQueue().getTopic());
        for (int i = 0; i < batch.size(); i++) {
            Sent s = batch.get(i);
            s.brokerName = r.getMessageQueue().getBrokerName();
            s.queueId = r.getMessageQueue().getQueueId();
            s.queueOffset = r.getQueueOffset() + i;
            s.offsetMsgId = offsetIds[i];
        }
    }

    /** Sends n messages synchronously (seq prefix-00..), checking every SendResult; tags cycle TagA/TagB/none. */
    static List<Sent> sendSync(org.apache.rocketmq.client.producer.DefaultMQProducer p, String topic, String prefix, int n)
        throws Exception {
        List<Sent> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Message m = make(topic, String.format("%s-%03d", prefix, i), i % 3 == 0 ? "TagA" : i % 3 == 1 ? "TagB" : null, 40 + i);
            Sent s = expect(m);
            SendResult r = p.send(m);
            sentAt(s, m);
            record(s, r, topic);
            out.add(s);
        }
        return out;
    }

    /** No two sent messages may have been given the same (broker, queue, offset) or offsetMsgId. */
    static void assertDistinctPositions(Collection<Sent> sent) {
        Map<String, String> byPos = new TreeMap<>();
        Map<String, String> byOffsetId = new TreeMap<>();
        List<String> problems = new ArrayList<>();
        for (Sent s : sent) {
            if (s.queueOffset == null) {
                continue;
            }
            String pos = s.brokerName + "/" + s.queueId + "@" + s.queueOffset;
            String prev = byPos.put(pos, s.seq);
            if (prev != null) {
                problems.add(pos + " given to both " + prev + " and " + s.seq);
            }
            prev = byOffsetId.put(s.offsetMsgId, s.seq);
            if (prev != null) {
                problems.add("offsetMsgId " + s.offsetMsgId + " given to both " + prev + " and " + s.seq);
            }
        }
        assertTrue(problems.isEmpty(), "duplicate positions in SendResults:\n  " + String.join("\n  ", problems));
    }

    static Map<String, Sent> bySeq(Collection<Sent> sent) {
        Map<String, Sent> m = new LinkedHashMap<>();
        for (Sent s : sent) {
            assertTrue(m.put(s.seq, s) == null, "test bug: duplicate seq " + s.seq);
        }
        return m;
    }

    static Map<String, Sent> filter(Map<String, Sent> sent, Predicate<Sent> p) {
        Map<String, Sent> m = new LinkedHashMap<>();
        sent.forEach((k, v) -> {
            if (p.test(v)) {
                m.put(k, v);
            }
        });
        return m;
    }

    /**
     * The consumer got exactly the expected messages, each once, with matching content.
     *
     * @param brokerAddrs brokerName -> "127.0.0.1:port"; each message's store host must be its broker's address
     */
    static void assertExactly(String what, Map<String, Sent> expected, Received got, Map<String, String> brokerAddrs) {
        List<String> problems = new ArrayList<>();
        Map<String, List<MessageExt>> recv = got.snapshot();
        List<MessageExt> unnamed = got.unnamed();
        if (!unnamed.isEmpty()) {
            problems.add(unnamed.size() + " received message(s) without a '" + SEQ + "' property, e.g. " + unnamed.get(0));
        }
        TreeSet<String> missing = new TreeSet<>(expected.keySet());
        missing.removeAll(recv.keySet());
        TreeSet<String> extra = new TreeSet<>(recv.keySet());
        extra.removeAll(expected.keySet());
        if (!missing.isEmpty()) {
            problems.add("missing " + missing.size() + " of " + expected.size() + ": " + head(missing, 20));
        }
        if (!extra.isEmpty()) {
            problems.add("unexpected " + extra.size() + ": " + head(extra, 20));
        }
        recv.forEach((seq, list) -> {
            if (list.size() > 1) {
                problems.add(seq + " delivered " + list.size() + " times");
            }
            Sent s = expected.get(seq);
            if (s != null) {
                compare(s, list.get(0), brokerAddrs, problems);
            }
        });
        if (!problems.isEmpty()) {
            throw new AssertionError(what + ": " + problems.size() + " problem(s):\n  "
                + problems.stream().limit(40).collect(Collectors.joining("\n  ")));
        }
    }

    private static void compare(Sent s, MessageExt m, Map<String, String> brokerAddrs, List<String> problems) {
        String p = s.seq + ": ";
        if (!Objects.equals(s.topic, m.getTopic())) {
            problems.add(p + "topic " + m.getTopic() + " != " + s.topic);
        }
        if (!Arrays.equals(s.body, m.getBody())) {
            problems.add(p + "body differs (" + (m.getBody() == null ? "null" : m.getBody().length + " B") + " vs "
                + s.body.length + " B sent)");
        }
        if (!Objects.equals(s.tags, m.getTags())) {
            problems.add(p + "tags " + m.getTags() + " != " + s.tags);
        }
        if (!Objects.equals(s.keys, m.getKeys())) {
            problems.add(p + "keys " + m.getKeys() + " != " + s.keys);
        }
        Map<String, String> user = new TreeMap<>();
        m.getProperties().forEach((k, v) -> {
            if (!MessageConst.STRING_HASH_SET.contains(k)) {
                user.put(k, v);
            }
        });
        if (!new TreeMap<>(s.userProps).equals(user)) {
            problems.add(p + "user properties " + user + " != " + new TreeMap<>(s.userProps));
        }
        if (!Objects.equals(s.uniqId, m.getMsgId())) {
            problems.add(p + "msgId (UNIQ_KEY) " + m.getMsgId() + " != " + s.uniqId);
        }
        if (m.getReconsumeTimes() != 0) {
            problems.add(p + "reconsumeTimes " + m.getReconsumeTimes());
        }
        if (m.getBornTimestamp() < s.bornAfter - 1000 || m.getBornTimestamp() > s.bornBefore + 1000) {
            problems.add(p + "bornTimestamp " + m.getBornTimestamp() + " outside the send call [" + s.bornAfter + ", "
                + s.bornBefore + "]");
        }
        if (m.getStoreTimestamp() < m.getBornTimestamp() - 1000 || m.getStoreTimestamp() > System.currentTimeMillis() + 1000) {
            problems.add(p + "storeTimestamp " + m.getStoreTimestamp() + " not after bornTimestamp " + m.getBornTimestamp());
        }
        String addr = brokerAddrs.get(m.getBrokerName());
        if (addr == null) {
            problems.add(p + "received from unknown broker " + m.getBrokerName());
        } else if (!addr.equals(hostPort(m.getStoreHost()))) {
            problems.add(p + "storeHost " + m.getStoreHost() + " != " + addr);
        }
        if (s.queueOffset != null) {
            if (!s.brokerName.equals(m.getBrokerName()) || s.queueId != m.getQueueId() || s.queueOffset != m.getQueueOffset()) {
                problems.add(p + "received at " + m.getBrokerName() + "/" + m.getQueueId() + "@" + m.getQueueOffset()
                    + " but the send result said " + s.brokerName + "/" + s.queueId + "@" + s.queueOffset);
            }
            String offsetMsgId = m instanceof MessageClientExt ? ((MessageClientExt) m).getOffsetMsgId() : null;
            if (!s.offsetMsgId.equals(offsetMsgId)) {
                problems.add(p + "offsetMsgId " + offsetMsgId + " != send result's " + s.offsetMsgId);
            }
        }
    }

    static String hostPort(java.net.SocketAddress a) {
        if (a instanceof java.net.InetSocketAddress) {
            java.net.InetSocketAddress i = (java.net.InetSocketAddress) a;
            return i.getAddress().getHostAddress() + ":" + i.getPort();
        }
        return String.valueOf(a);
    }

    static String head(Collection<String> c, int n) {
        return c.stream().limit(n).collect(Collectors.joining(", ")) + (c.size() > n ? ", ..." : "");
    }
}
