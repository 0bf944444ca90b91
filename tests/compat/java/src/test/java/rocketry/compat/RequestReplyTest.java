package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.nio.charset.StandardCharsets;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.utils.MessageUtil;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Request-reply: producer.request(...) waits for the reply that a consumer sends with
 * MessageUtil.createReplyMessage; the broker pushes it to the requester
 * (SEND_REPLY_MESSAGE_V2 325 in, PUSH_REPLY_MESSAGE_TO_CLIENT 326 out).
 */
class RequestReplyTest {
    @RegisterExtension
    static final Harness H = new Harness("reply");

    @Test
    void requestGetsItsReply() throws Exception {
        String namesrv = Clients.standalone(H).namesrv();
        String topic = Clients.unique("RequestTopic");

        DefaultMQProducer replier = Clients.producer(H, namesrv);
        DefaultMQPushConsumer server = new DefaultMQPushConsumer(Clients.unique("reply_server"));
        server.setNamesrvAddr(namesrv);
        server.setInstanceName(Clients.unique("reply-server"));
        server.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        server.subscribe(topic, "*");
        server.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                try {
                    String question = new String(m.getBody(), StandardCharsets.UTF_8);
                    Message reply = MessageUtil.createReplyMessage(m, ("answer to " + question).getBytes(StandardCharsets.UTF_8));
                    replier.send(reply, 3000);
                } catch (Exception e) {
                    return ConsumeConcurrentlyStatus.RECONSUME_LATER;
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });

        DefaultMQProducer requester = Clients.producer(H, namesrv);
        // The topic must exist before the server subscribes to it.
        requester.send(new Message(topic, "warmup".getBytes(StandardCharsets.UTF_8)));
        server.start();
        H.track(server::shutdown);
        // Ask only once the replier holds the topic's queues: a request sent before its first
        // rebalance waits for it, which on a loaded machine can outlast the request timeout.
        Wait.until("the replier placed the topic's queues", 30_000,
            () -> server.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet().stream()
                .filter(mq -> mq.getTopic().equals(topic)).count(), n -> n > 0);

        // The callback form. In rocketmq-client 5.3.x (apache/rocketmq#8261) the request's send
        // acknowledgement already completes the future: the blocking request(msg, timeout) returns
        // before any reply can arrive (with any broker), and the callback first sees onSuccess(null)
        // for the send, then onSuccess(reply) when the reply is pushed.
        for (int i = 0; i < 5; i++) {
            Message request = new Message(topic, "T", ("question " + i).getBytes(StandardCharsets.UTF_8));
            java.util.concurrent.CompletableFuture<Message> reply = new java.util.concurrent.CompletableFuture<>();
            requester.request(request, new org.apache.rocketmq.client.producer.RequestCallback() {
                @Override public void onSuccess(Message m) {
                    if (m != null) {
                        reply.complete(m);
                    }
                }
                @Override public void onException(Throwable e) {
                    reply.completeExceptionally(e);
                }
            }, 20_000);
            Message m = reply.get(30, java.util.concurrent.TimeUnit.SECONDS);
            assertNotNull(m, "reply to question " + i);
            assertEquals("answer to question " + i, new String(m.getBody(), StandardCharsets.UTF_8));
            assertEquals("reply", m.getProperty("MSG_TYPE"));
        }
    }
}
