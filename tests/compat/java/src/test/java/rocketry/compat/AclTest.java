package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.acl.common.AclClientRPCHook;
import org.apache.rocketmq.acl.common.SessionCredentials;
import org.apache.rocketmq.client.consumer.DefaultMQPullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.PullResult;
import org.apache.rocketmq.client.consumer.PullStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.RPCHook;
import org.apache.rocketmq.remoting.protocol.body.AclInfo;
import org.apache.rocketmq.remoting.protocol.body.UserInfo;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * ACL 2.0 with the official Java client's AclClientRPCHook and the official mqadmin: users and
 * ACLs made with mqadmin's commands, allowed publish and subscribe, and each refusal (wrong
 * secret, unknown user, no signature, denied topic, denied group, denied source address,
 * admin operations for a normal user) answered NO_PERMISSION (16) with nothing stored.
 */
class AclTest {
    @RegisterExtension
    static final Harness H = new Harness("acl");

    static final RPCHook ROOT = hook("root", "rootSecret1");
    static String namesrv;
    static String brokerAddr;
    static DefaultMQAdminExt root;

    static RPCHook hook(String user, String secret) {
        return new AclClientRPCHook(new SessionCredentials(user, secret));
    }

    @BeforeAll
    static void start() throws Exception {
        Clients.Addrs a = Clients.standalone(H, "grpcServerEnable=false", "authenticationEnabled=true", "authorizationEnabled=true",
            "initAuthenticationUser={\"username\":\"root\",\"password\":\"rootSecret1\"}");
        namesrv = a.namesrv();
        brokerAddr = a.brokerAddr();
        root = admin(ROOT);
    }

    static DefaultMQAdminExt admin(RPCHook hook) throws Exception {
        DefaultMQAdminExt admin = new DefaultMQAdminExt(hook, 5000);
        admin.setNamesrvAddr(namesrv);
        admin.setInstanceName(Clients.unique("acl-admin"));
        admin.setAdminExtGroup(Clients.unique("ADMIN"));
        admin.start();
        H.track(admin::shutdown);
        return admin;
    }

    static DefaultMQProducer producer(RPCHook hook) throws Exception {
        DefaultMQProducer p = hook == null ? new DefaultMQProducer(Clients.unique("AclPG")) : new DefaultMQProducer(Clients.unique("AclPG"), hook);
        p.setNamesrvAddr(namesrv);
        p.setInstanceName(Clients.unique("acl-producer"));
        p.setClientIP(Rocketry.LOOPBACK);
        p.setSendMsgTimeout(5000);
        p.setRetryTimesWhenSendFailed(0);
        p.start();
        H.track(p::shutdown);
        return p;
    }

    /** A user with a policy on `topic` and `group` (Pub and Sub, allowed), made through the admin API. */
    static String user(String topic, String group) throws Exception {
        String name = Clients.unique("u");
        root.createUser(brokerAddr, name, name + "-secret", "Normal");
        root.createAcl(brokerAddr, "User:" + name, List.of("Topic:" + topic, "Group:" + group), List.of("Pub", "Sub"), null, "Allow");
        return name;
    }

    /** The broker's refusal of a send: the MQBrokerException the client's exception carries. */
    static MQBrokerException refusal(DefaultMQProducer p, String topic) {
        Exception e = assertThrows(Exception.class, () -> p.send(new Message(topic, "x".getBytes(StandardCharsets.UTF_8))));
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof MQBrokerException b) {
                return b;
            }
        }
        throw new AssertionError("no broker refusal in " + e, e);
    }

    static int sendCode(DefaultMQProducer p, String topic) {
        return refusal(p, topic).getResponseCode();
    }

    static String mqadmin(RPCHook hook, String... args) {
        return AdminCommandsTest.mqadmin(hook, args);
    }

    @Test
    void mqadminUserAndAclCommandsWork() {
        String name = Clients.unique("ops");
        assertTrue(mqadmin(ROOT, "createUser", "-n", namesrv, "-b", brokerAddr, "-u", name, "-p", "opsSecret").contains("create user to " + brokerAddr + " success."));
        String got = mqadmin(ROOT, "getUser", "-n", namesrv, "-b", brokerAddr, "-u", name);
        assertTrue(got.contains(name) && got.contains("Normal") && got.contains("enable"), got);
        assertTrue(mqadmin(ROOT, "updateUser", "-n", namesrv, "-b", brokerAddr, "-u", name, "-s", "disable").contains("success"));
        assertTrue(mqadmin(ROOT, "listUser", "-n", namesrv, "-b", brokerAddr, "-f", name).contains("disable"));
        assertTrue(mqadmin(ROOT, "createAcl", "-n", namesrv, "-b", brokerAddr, "-s", "User:" + name, "-r", "Topic:ops*,Group:opsG",
            "-a", "Pub,Sub", "-d", "Allow", "-i", "10.0.0.0/8").contains("create acl to " + brokerAddr + " success."));
        String acl = mqadmin(ROOT, "getAcl", "-n", namesrv, "-b", brokerAddr, "-s", "User:" + name);
        assertTrue(acl.contains("Topic:ops*") && acl.contains("Group:opsG") && acl.contains("10.0.0.0/8") && acl.contains("Allow"), acl);
        assertTrue(mqadmin(ROOT, "updateAcl", "-n", namesrv, "-b", brokerAddr, "-s", "User:" + name, "-r", "Topic:ops*", "-a", "Sub", "-d", "Deny")
            .contains("update acl to " + brokerAddr + " success."));
        String listed = mqadmin(ROOT, "listAcl", "-n", namesrv, "-b", brokerAddr, "-s", name);
        assertTrue(listed.contains("Deny") && listed.contains("Group:opsG"), listed);
        assertTrue(mqadmin(ROOT, "deleteAcl", "-n", namesrv, "-b", brokerAddr, "-s", "User:" + name, "-r", "Group:opsG").contains("success"));
        assertTrue(!mqadmin(ROOT, "getAcl", "-n", namesrv, "-b", brokerAddr, "-s", "User:" + name).contains("Group:opsG"));
        assertTrue(mqadmin(ROOT, "deleteUser", "-n", namesrv, "-b", brokerAddr, "-u", name).contains("delete user to " + brokerAddr + " success."));
        assertTrue(!mqadmin(ROOT, "listUser", "-n", namesrv, "-b", brokerAddr).contains(name));
    }

    @Test
    void allowedPublishAndSubscribeWork() throws Exception {
        String topic = Clients.unique("AclTopic");
        String group = Clients.unique("acl_group");
        String name = user(topic, group);
        RPCHook hook = hook(name, name + "-secret");
        DefaultMQProducer p = producer(hook);
        for (int i = 0; i < 5; i++) {
            assertEquals(SendStatus.SEND_OK, p.send(new Message(topic, ("m" + i).getBytes(StandardCharsets.UTF_8))).getSendStatus());
        }
        Map<String, Boolean> received = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group, hook);
        c.setNamesrvAddr(namesrv);
        c.setInstanceName(Clients.unique("acl-consumer"));
        c.setClientIP(Rocketry.LOOPBACK);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(m -> received.put(new String(m.getBody(), StandardCharsets.UTF_8), true));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        H.track(c::shutdown);
        Wait.until("all 5 consumed with credentials", 30_000, received::size, n -> n == 5);
    }

    @Test
    void refusalsAreNoPermissionAndStoreNothing() throws Exception {
        String topic = Clients.unique("AclTopic");
        String group = Clients.unique("acl_group");
        String name = user(topic, group);
        String secret = name + "-secret";
        DefaultMQProducer ok = producer(hook(name, secret));
        assertEquals(SendStatus.SEND_OK, ok.send(new Message(topic, "first".getBytes(StandardCharsets.UTF_8))).getSendStatus());
        MessageQueue mq = new MessageQueue(topic, "broker-a", 0);
        long before = Clients.stored(root, topic);

        assertEquals(16, sendCode(producer(hook(name, "wrong-secret")), topic), "wrong secret");
        assertEquals(16, sendCode(producer(hook("nobody", "x")), topic), "unknown user");
        MQBrokerException unsigned = refusal(producer(null), topic);
        assertEquals(16, unsigned.getResponseCode());
        assertEquals("username cannot be null.", unsigned.getErrorMessage());
        assertEquals("check signature failed.", refusal(producer(hook(name, "wrong-secret")), topic).getErrorMessage());
        String denied = Clients.unique("Denied");
        assertEquals(16, sendCode(ok, topic.equals(denied) ? "x" : denied), "a topic the user has no policy for");

        // A group without a policy: pulls are refused.
        DefaultMQPullConsumer other = new DefaultMQPullConsumer(Clients.unique("other_group"), hook(name, secret));
        other.setNamesrvAddr(namesrv);
        other.setInstanceName(Clients.unique("acl-pull"));
        other.start();
        H.track(other::shutdown);
        MQBrokerException pull = assertThrows(MQBrokerException.class, () -> other.pull(mq, "*", 0, 32));
        assertEquals(16, pull.getResponseCode());
        assertTrue(pull.getErrorMessage().contains("Group:"), pull.getErrorMessage());
        DefaultMQPullConsumer mine = new DefaultMQPullConsumer(group, hook(name, secret));
        mine.setNamesrvAddr(namesrv);
        mine.setInstanceName(Clients.unique("acl-pull"));
        mine.start();
        H.track(mine::shutdown);
        long found = 0;
        for (int q = 0; q < 8; q++) {
            try {
                PullResult r = mine.pull(new MessageQueue(topic, "broker-a", q), "*", 0, 32);
                if (r.getPullStatus() == PullStatus.FOUND) {
                    found += r.getMsgFoundList().size();
                }
            } catch (MQClientException | MQBrokerException ignored) {
                // fewer queues
            }
        }
        assertEquals(1, found, "the user's own group pulls the one message sent with credentials");

        // A source address the policy does not allow (the client is 127.0.0.1).
        root.updateAcl(brokerAddr, "User:" + name, List.of("Topic:" + topic), List.of("Pub", "Sub"), List.of("10.0.0.0/8"), "Allow");
        assertEquals(16, sendCode(ok, topic), "a source address the policy does not allow");
        // An ACL change applies at once.
        root.updateAcl(brokerAddr, "User:" + name, List.of("Topic:" + topic), List.of("Pub", "Sub"), List.of("127.0.0.0/8"), "Allow");
        assertEquals(SendStatus.SEND_OK, ok.send(new Message(topic, "again".getBytes(StandardCharsets.UTF_8))).getSendStatus());

        assertEquals(before + 1, Clients.stored(root, topic), "refused sends stored nothing");

        // Admin operations are for super users (or a Cluster policy).
        DefaultMQAdminExt normal = admin(hook(name, secret));
        MQBrokerException create = assertThrows(MQBrokerException.class, () -> normal.createUser(brokerAddr, Clients.unique("x"), "pw", "Normal"));
        assertEquals(16, create.getResponseCode());
        UserInfo info = root.getUser(brokerAddr, name);
        assertEquals("Normal", info.getUserType());
        AclInfo acl = root.getAcl(brokerAddr, "User:" + name);
        assertTrue(acl.getPolicies().get(0).getEntries().stream().anyMatch(e -> e.getResource().equals("Topic:" + topic)), String.valueOf(acl));
    }
}
