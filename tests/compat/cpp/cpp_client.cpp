// A small program on the official RocketMQ C++ client 2.2.0 (apache/rocketmq-client-cpp, its
// public C++ API), driven by test_clients.py. One line per event on stdout:
//
//   cpp_client produce NAMESRV TOPIC COUNT TAGS
//       COUNT messages, tags taken in turn from the comma-separated TAGS ("-" for none),
//       key "k<i>", body "cpp-<i>", property seq=<i>:  SENT <status> <queueId> <queueOffset> <msgId>
//   cpp_client produce-orderly NAMESRV TOPIC COUNT KEYS
//       COUNT messages, message i to the queue chosen by key i % KEYS, body "key<k>-<n>" (n-th of
//       that key):  SENT <status> <queueId> <queueOffset> <msgId>
//   cpp_client consume NAMESRV GROUP TOPIC EXPRESSION MODE EXPECT TIMEOUT_S
//       a push consumer (MODE clustering, broadcast or orderly) from the first offset, until
//       EXPECT messages arrived (then one second more, for extra deliveries) or TIMEOUT_S passed:
//       READY, then RECV <queueId> <queueOffset> <reconsumeTimes> <tags|-> <keys|-> <body> per
//       message, then DONE <count>; exits 1 when too few arrived.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "DefaultMQProducer.h"
#include "DefaultMQPushConsumer.h"

using namespace rocketmq;

namespace {

std::mutex out_mutex;

void line(const std::string& s) {
  std::lock_guard<std::mutex> lock(out_mutex);
  std::cout << s << std::endl;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

void sent(const SendResult& r) {
  line("SENT " + std::to_string(static_cast<int>(r.getSendStatus())) + " " + std::to_string(r.getMessageQueue().getQueueId()) +
       " " + std::to_string(r.getQueueOffset()) + " " + r.getMsgId());
}

void start_producer(DefaultMQProducer& p, const std::string& namesrv) {
  p.setNamesrvAddr(namesrv);
  p.setInstanceName("cpp-producer-" + std::to_string(::getpid()));
  p.setSendMsgTimeout(5000);
  p.setRetryTimes(2);
  p.start();
}

int produce(const std::string& namesrv, const std::string& topic, int count, const std::string& tags) {
  DefaultMQProducer p("CppProducerGroup");
  start_producer(p, namesrv);
  std::vector<std::string> tag_list = split(tags, ',');
  for (int i = 0; i < count; i++) {
    std::string tag = tag_list[i % tag_list.size()];
    MQMessage m(topic, tag == "-" ? "" : tag, "k" + std::to_string(i), "cpp-" + std::to_string(i));
    m.setProperty("seq", std::to_string(i));
    sent(p.send(m));
  }
  p.shutdown();
  return 0;
}

class ByKey : public MessageQueueSelector {
 public:
  MQMessageQueue select(const std::vector<MQMessageQueue>& mqs, const MQMessage& msg, void* arg) override {
    int key = *static_cast<int*>(arg);
    return mqs[key % mqs.size()];
  }
};

int produce_orderly(const std::string& namesrv, const std::string& topic, int count, int keys) {
  DefaultMQProducer p("CppOrderlyProducerGroup");
  start_producer(p, namesrv);
  ByKey selector;
  std::vector<int> nth(keys, 0);
  for (int i = 0; i < count; i++) {
    int key = i % keys;
    MQMessage m(topic, "TagO", "key" + std::to_string(key), "key" + std::to_string(key) + "-" + std::to_string(nth[key]++));
    sent(p.send(m, &selector, &key));
  }
  p.shutdown();
  return 0;
}

std::atomic<int> received{0};

void record(const std::vector<MQMessageExt>& msgs) {
  for (const MQMessageExt& m : msgs) {
    line("RECV " + std::to_string(m.getQueueId()) + " " + std::to_string(m.getQueueOffset()) + " " +
         std::to_string(m.getReconsumeTimes()) + " " + or_dash(m.getTags()) + " " + or_dash(m.getKeys()) + " " + m.getBody());
    received++;
  }
}

class Concurrently : public MessageListenerConcurrently {
 public:
  ConsumeStatus consumeMessage(const std::vector<MQMessageExt>& msgs) override {
    record(msgs);
    return CONSUME_SUCCESS;
  }
};

class Orderly : public MessageListenerOrderly {
 public:
  ConsumeStatus consumeMessage(const std::vector<MQMessageExt>& msgs) override {
    record(msgs);
    return CONSUME_SUCCESS;
  }
};

int consume(const std::string& namesrv, const std::string& group, const std::string& topic, const std::string& expression,
            const std::string& mode, int expect, int timeout_s) {
  DefaultMQPushConsumer c(group);
  c.setNamesrvAddr(namesrv);
  c.setInstanceName("cpp-consumer-" + std::to_string(::getpid()));
  c.setConsumeFromWhere(CONSUME_FROM_FIRST_OFFSET);
  c.setMessageModel(mode == "broadcast" ? BROADCASTING : CLUSTERING);
  c.subscribe(topic, expression);
  Concurrently concurrently;
  Orderly orderly;
  if (mode == "orderly") {
    c.registerMessageListener(&orderly);
  } else {
    c.registerMessageListener(&concurrently);
  }
  c.start();
  line("READY");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (received.load() < expect && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (received.load() >= expect) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  c.shutdown();
  line("DONE " + std::to_string(received.load()));
  return received.load() >= expect ? 0 : 1;
}

int usage() {
  std::cerr << "usage: cpp_client produce NAMESRV TOPIC COUNT TAGS | produce-orderly NAMESRV TOPIC COUNT KEYS | "
               "consume NAMESRV GROUP TOPIC EXPRESSION clustering|broadcast|orderly EXPECT TIMEOUT_S"
            << std::endl;
  return 2;
}

}  // namespace

int main(int argc, char* argv[]) {
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() == 5 && a[0] == "produce") {
      return produce(a[1], a[2], std::stoi(a[3]), a[4]);
    }
    if (a.size() == 5 && a[0] == "produce-orderly") {
      return produce_orderly(a[1], a[2], std::stoi(a[3]), std::stoi(a[4]));
    }
    if (a.size() == 8 && a[0] == "consume") {
      return consume(a[1], a[2], a[3], a[4], a[5], std::stoi(a[6]), std::stoi(a[7]));
    }
  } catch (const std::exception& e) {
    line(std::string("ERROR ") + e.what());
    return 3;
  }
  return usage();
}
