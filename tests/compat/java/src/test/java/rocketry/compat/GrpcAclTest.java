package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.rocketmq.acl.common.AclClientRPCHook;
import org.apache.rocketmq.acl.common.SessionCredentials;
import org.apache.rocketmq.client.apis.ClientConfiguration;
import org.apache.rocketmq.client.apis.ClientServiceProvider;
import org.apache.rocketmq.client.apis.StaticSessionCredentialsProvider;
import org.apache.rocketmq.client.apis.consumer.FilterExpression;
import org.apache.rocketmq.client.apis.consumer.FilterExpressionType;
import org.apache.rocketmq.client.apis.consumer.SimpleConsumer;
import org.apache.rocketmq.client.apis.message.MessageView;
import org.apache.rocketmq.client.apis.producer.Producer;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * ACL 2.0 on the gRPC port with the official Java 5.x SDK's credentials
 * (StaticSessionCredentialsProvider: the `authorization` header signing `x-mq-date-time`),
 * against the users and ACLs made over remoting with the official admin client: an allowed
 * user sends and receives; a wrong secret, no credentials and a topic the user may not write
 * are refused, and nothing is stored for them.
 */
class GrpcAclTest {
    @RegisterExtension
    static final Harness H = new Harness("grpc-acl");

    static final ClientServiceProvider PROVIDER = ClientServiceProvider.loadService();
    static String brokerAddr;
    static String endpoint;
    static DefaultMQAdminExt root;
    static String topic;
    static String denied;
    static String group;

    @BeforeAll
    static void start() throws Exception {
        int grpcPort = Rocketry.freePorts(1)[0];
        Clients.Addrs a = Clients.standalone(H, "grpcServerPort=" + grpcPort, "authenticationEnabled=true", "authorizationEnabled=true",
            "initAuthenticationUser={\"username\":\"root\",\"password\":\"rootSecret1\"}");
        brokerAddr = a.brokerAddr();
        endpoint = Rocketry.LOOPBACK + ":" + grpcPort;
        root = new DefaultMQAdminExt(new AclClientRPCHook(new SessionCredentials("root", "rootSecret1")), 5000);
        root.setNamesrvAddr(a.namesrv());
        root.setInstanceName(Clients.unique("grpc-acl-admin"));
        root.setAdminExtGroup(Clients.unique("ADMIN"));
        root.start();
        H.track(root::shutdown);
        topic = Clients.unique("GrpcAclTopic");
        denied = Clients.unique("GrpcAclDenied");
        group = Clients.unique("GrpcAclGroup");
        for (String t : List.of(topic, denied)) {
            TopicConfig c = new TopicConfig(t, 2, 2, 6);
            c.setAttributes(Map.of("+message.type", "NORMAL"));
            root.createAndUpdateTopicConfig(brokerAddr, c);
        }
        SubscriptionGroupConfig g = new SubscriptionGroupConfig();
        g.setGroupName(group);
        root.createAndUpdateSubscriptionGroupConfig(brokerAddr, g);
        root.createUser(brokerAddr, "alice", "aliceSecret", "Normal");
        root.createAcl(brokerAddr, "User:alice", List.of("Topic:" + topic, "Group:" + group), List.of("Pub", "Sub"), null, "Allow");
        root.createAcl(brokerAddr, "User:alice", List.of("Topic:" + denied), List.of("Sub"), null, "Allow");
    }

    static ClientConfiguration config(String user, String secret) {
        org.apache.rocketmq.client.apis.ClientConfigurationBuilder b = ClientConfiguration.newBuilder().setEndpoints(endpoint).enableSsl(false).setRequestTimeout(Duration.ofSeconds(5));
        if (user != null) {
            b.setCredentialProvider(new StaticSessionCredentialsProvider(user, secret));
        }
        return b.build();
    }

    static org.apache.rocketmq.client.apis.message.Message message(String t, String body) {
        return PROVIDER.newMessageBuilder().setTopic(t).setTag("A").setBody(body.getBytes(StandardCharsets.UTF_8)).build();
    }

    /** The message of the first exception in the chain. */
    static String refusal(Exception e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            sb.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage()).append(" / ");
        }
        return sb.toString();
    }

    @Test
    void anAllowedUserSendsAndReceives() throws Exception {
        Producer p = PROVIDER.newProducerBuilder().setClientConfiguration(config("alice", "aliceSecret")).setTopics(topic).build();
        H.track(p);
        SimpleConsumer c = PROVIDER.newSimpleConsumerBuilder().setClientConfiguration(config("alice", "aliceSecret")).setConsumerGroup(group)
            .setAwaitDuration(Duration.ofSeconds(2)).setSubscriptionExpressions(Map.of(topic, new FilterExpression("*", FilterExpressionType.TAG)))
            .build();
        H.track(c);
        String id = p.send(message(topic, "hello")).getMessageId().toString();
        List<MessageView> got = new ArrayList<>();
        long end = System.currentTimeMillis() + 20_000;
        while (got.isEmpty() && System.currentTimeMillis() < end) {
            for (MessageView v : c.receive(16, Duration.ofSeconds(30))) {
                got.add(v);
                c.ack(v);
            }
        }
        assertEquals(1, got.size());
        assertEquals(id, got.get(0).getMessageId().toString());
    }

    @Test
    void wrongSecretNoCredentialsAndADeniedTopicAreRefused() throws Exception {
        long before = Clients.stored(root, denied);
        Exception wrong = assertThrows(Exception.class, () -> {
            Producer p = PROVIDER.newProducerBuilder().setClientConfiguration(config("alice", "not-her-secret")).setTopics(topic).build();
            H.track(p);
            p.send(message(topic, "x"));
        });
        assertTrue(refusal(wrong).contains("check signature failed"), refusal(wrong));
        Exception anonymous = assertThrows(Exception.class, () -> {
            Producer p = PROVIDER.newProducerBuilder().setClientConfiguration(config(null, null)).setTopics(topic).build();
            H.track(p);
            p.send(message(topic, "x"));
        });
        assertTrue(refusal(anonymous).contains("username cannot be null"), refusal(anonymous));
        // alice may read `denied` (its route is hers to ask for) but not write to it: her
        // producer's send there is refused (the settings naming it are refused too, so a
        // producer made for `denied` alone does not start, as with Java's proxy).
        Producer p = PROVIDER.newProducerBuilder().setClientConfiguration(config("alice", "aliceSecret")).setTopics(topic).build();
        H.track(p);
        Exception forbidden = assertThrows(Exception.class, () -> p.send(message(denied, "x")));
        assertTrue(refusal(forbidden).contains("has no permission to access Topic:" + denied), refusal(forbidden));
        assertThrows(Exception.class, () -> H.track(PROVIDER.newProducerBuilder().setClientConfiguration(config("alice", "aliceSecret")).setTopics(denied).build()));
        assertEquals(before, Clients.stored(root, denied), "nothing stored for a refused send");
    }
}
