package rocketry.compat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

/** What a message must look like on arrival, and the exact set compared. */
final class Expect {
    static final String TEXT = "héllo 世界 🚀";

    /** A message whose body, tags, keys and user properties all derive from its id. */
    static Message message(String topic, String id, String tag, int bodyBytes) {
        StringBuilder body = new StringBuilder(id).append('|').append(TEXT);
        while (body.length() < bodyBytes) {
            body.append(" padding-").append(body.length());
        }
        Message m = new Message(topic, tag, "key-" + id + " k2-" + id, body.toString().getBytes(StandardCharsets.UTF_8));
        m.putUserProperty("id", id);
        m.putUserProperty("text", TEXT + " " + id);
        return m;
    }

    /** The fields that must survive: body, tags, keys and user properties. */
    static String fingerprint(Message m) {
        Map<String, String> user = new TreeMap<>();
        for (String k : List.of("id", "text")) {
            if (m.getUserProperty(k) != null) {
                user.put(k, m.getUserProperty(k));
            }
        }
        return new String(m.getBody(), StandardCharsets.UTF_8) + " tags=" + m.getTags() + " keys=" + m.getKeys() + " props=" + user;
    }

    /** Received messages by id; a second copy of an id is recorded as a duplicate. */
    static final class Received {
        final ConcurrentMap<String, String> byId = new ConcurrentHashMap<>();
        final List<String> duplicates = java.util.Collections.synchronizedList(new ArrayList<>());

        void add(MessageExt m) {
            String id = m.getUserProperty("id");
            if (byId.putIfAbsent(id, fingerprint(m)) != null) {
                duplicates.add(id);
            }
        }

        boolean waitFor(int count, long millis) throws InterruptedException {
            long end = System.currentTimeMillis() + millis;
            while (byId.size() < count && System.currentTimeMillis() < end) {
                Thread.sleep(100);
            }
            return byId.size() >= count;
        }
    }

    static Map<String, String> fingerprints(List<Message> sent) {
        Map<String, String> out = new TreeMap<>();
        for (Message m : sent) {
            out.put(m.getUserProperty("id"), fingerprint(m));
        }
        return out;
    }
}
