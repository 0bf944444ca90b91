package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * TLS on the remoting ports (NameServer and broker) with the official Java client's
 * {@code setUseTLS(true)} and its defaults (it trusts any server certificate; the broker's is
 * self-signed, as the Java broker's test mode makes it): tls.server.mode=enforcing takes TLS
 * and refuses plaintext; permissive (the default, as in Java) takes both on one port.
 */
class TlsTest {
    @RegisterExtension
    static final Harness H = new Harness("tls");

    static DefaultMQProducer producer(String namesrv, boolean useTls) throws Exception {
        DefaultMQProducer p = new DefaultMQProducer(Clients.unique("TlsPG"));
        p.setNamesrvAddr(namesrv);
        p.setInstanceName(Clients.unique("tls-producer"));
        p.setClientIP(Rocketry.LOOPBACK);
        p.setUseTLS(useTls);
        p.setSendMsgTimeout(3000);
        p.setRetryTimesWhenSendFailed(0);
        p.start();
        H.track(p::shutdown);
        return p;
    }

    /** Sends n messages named prefix-0..n-1; returns their names. */
    static List<String> send(DefaultMQProducer p, String topic, String prefix, int n) throws Exception {
        List<String> seqs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String seq = prefix + "-" + i;
            assertEquals(SendStatus.SEND_OK, p.send(Msgs.make(topic, seq, null, 100)).getSendStatus());
            seqs.add(seq);
        }
        return seqs;
    }

    /** Starts a TLS or plaintext push consumer of topic and waits for every named message. */
    static void receiveAll(String namesrv, boolean useTls, String topic, List<String> seqs) throws Exception {
        Received got = new Received();
        Clients.pushWith(H, namesrv, Clients.unique("TlsCG"), topic, (MessageListenerConcurrently) (msgs, ctx) -> {
            got.addAll(msgs);
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        }, c -> {
            c.setUseTLS(useTls);
            c.setClientIP(Rocketry.LOOPBACK);
        });
        assertTrue(got.awaitAll(seqs, 30_000), "received " + got.snapshot().keySet() + " of " + seqs);
    }

    @Test
    void enforcingTakesTlsClientsAndRefusesPlaintext() throws Exception {
        Clients.Addrs a = Clients.standalone(H, true, "tls.server.mode=enforcing");
        String topic = Clients.unique("TlsEnforced");
        List<String> seqs = send(producer(a.namesrv(), true), topic, "tls", 10);
        receiveAll(a.namesrv(), true, topic, seqs);

        // Plaintext: the NameServer closes the connection, so the client finds no route...
        DefaultMQProducer plain = producer(a.namesrv(), false);
        assertThrows(Exception.class, () -> send(plain, topic, "plain", 1));
        DefaultMQAdminExt plainAdmin = Clients.admin(H, a.namesrv(), false);
        assertThrows(Exception.class, () -> plainAdmin.examineBrokerClusterInfo());
        // ... and the broker's port, asked directly, does the same.
        assertThrows(Exception.class, () -> plainAdmin.getBrokerConfig(a.brokerAddr()));
        DefaultMQAdminExt tlsAdmin = Clients.admin(H, a.namesrv(), true);
        assertTrue(tlsAdmin.getBrokerConfig(a.brokerAddr()).containsKey("brokerName"));
        assertEquals(10, Clients.stored(tlsAdmin, topic), "only the TLS client's messages are stored");
    }

    @Test
    void permissiveTakesTlsAndPlaintextOnOnePort() throws Exception {
        Clients.Addrs a = Clients.standalone(H, false);
        String topic = Clients.unique("TlsPermissive");
        List<String> seqs = new ArrayList<>(send(producer(a.namesrv(), true), topic, "tls", 5));
        seqs.addAll(send(producer(a.namesrv(), false), topic, "plain", 5));
        receiveAll(a.namesrv(), true, topic, seqs);
        receiveAll(a.namesrv(), false, topic, seqs);
    }
}
