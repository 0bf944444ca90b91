'use strict';
// The same SDK over TLS (`sslEnabled: true`: grpc-js ChannelCredentials.createSsl(), which
// verifies the server's certificate against the default roots). The broker serves a
// certificate signed by a throwaway CA made here; grpc-js takes its default roots from
// GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, read when grpc-js is loaded, so it is set before the SDK
// is required. (NODE_EXTRA_CA_CERTS does not reach grpc-js's createSsl() contexts.)

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const tlsCerts = require('./tls-certs');

const certs = tlsCerts.make();
process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH = certs.ca;

const { Producer, PushConsumer, ConsumeResult } = require('rocketmq-client-nodejs');
const { Broker, Ctx, explained, unique, started, receiveUntil, within, sleep, messages } = require('./harness');

const ctx = new Ctx();
test.before(async () => {
  ctx.broker = await Broker.start({ conf: [ `grpcTlsCertPath=${certs.cert}`, `grpcTlsKeyPath=${certs.key}` ] });
});
test.after(async () => {
  await ctx.close();
  fs.rmSync(certs.dir, { recursive: true, force: true });
});

const TLS = { sslEnabled: true };

test('over TLS: Producer sends, SimpleConsumer with a tag filter receives exactly those, acks, then finds nothing', { timeout: 60000 }, () => explained(ctx, async () => {
  const broker = ctx.broker;
  const topic = unique('NodeTls');
  const group = unique('NodeTlsGroup');
  await broker.createTopic(topic);
  await broker.createGroup(group);

  const consumer = await ctx.simpleConsumer(group, topic, 'TagA', 'tls-simple-consumer', TLS);
  const t0 = Date.now();
  const before = await within(15000, 'first (empty) receive over TLS', consumer.receive(32, 15000));
  assert.equal(before.length, 0, 'a new group on a new topic has nothing to receive');
  assert.ok(Date.now() - t0 >= 4500, `an empty receive is held for the 5 s await over TLS too (took ${Date.now() - t0} ms)`);

  const producer = await ctx.producer(topic, 'tls-producer', TLS);
  const sent = new Map();
  for (let i = 0; i < 5; i++) {
    const msg = { topic, tag: 'TagA', keys: [ `tls-${i}` ], properties: new Map([ [ 'i', String(i) ] ]), body: Buffer.from(`node-tls-${i}`) };
    const r = await within(10000, `send #${i}`, producer.send(msg));
    sent.set(r.messageId, msg);
  }
  const other = await within(10000, 'send TagB', producer.send({ topic, tag: 'TagB', body: Buffer.from('filtered out') }));
  assert.equal(sent.size, 5, 'five distinct message ids');

  const received = await receiveUntil(consumer, 5, 20000);
  const ids = received.map(m => m.messageId);
  assert.ok(!ids.includes(other.messageId), 'a TagB message passed the TagA filter');
  assert.equal(new Set(ids).size, ids.length, `no message twice: ${ids}`);
  assert.deepEqual(new Set(ids), new Set(sent.keys()), 'received exactly the ids the send receipts gave');
  for (const m of received) {
    const s = sent.get(m.messageId);
    assert.equal(m.body.toString(), s.body.toString());
    assert.equal(m.tag, 'TagA');
    assert.deepEqual([ ...m.keys ], s.keys);
    assert.deepEqual(Object.fromEntries(m.properties), Object.fromEntries(s.properties));
    assert.equal(m.deliveryAttempt, 1);
    assert.equal(m.corrupted, undefined, 'body digest matches the body');
    await within(10000, `ack ${m.messageId}`, consumer.ack(m));
  }
  const after = await within(15000, 'receive after ack', consumer.receive(32, 15000));
  assert.deepEqual(after.map(m => `${m.messageId} attempt=${m.deliveryAttempt}`), [], 'nothing left after acking all');
}));

test('over TLS: PushConsumer consumes every message once', { timeout: 60000 }, () => explained(ctx, async () => {
  const broker = ctx.broker;
  const topic = unique('NodeTlsPush');
  const group = unique('NodeTlsPushGroup');
  await broker.createTopic(topic);
  await broker.createGroup(group);

  // A new POP group starts at the end of each queue: one receive sets its offsets first.
  await ctx.prime(group, topic, 'tls-primer', TLS);

  const consumed = [];
  let wake;
  const allConsumed = new Promise(resolve => { wake = resolve; });
  const push = ctx.track(new PushConsumer({
    endpoints: broker.endpoint, namespace: '', consumerGroup: group, sslEnabled: true,
    subscriptions: new Map([ [ topic, '*' ] ]), logger: ctx.log('tls-push-consumer'),
    messageListener: {
      async consume(m) {
        consumed.push(m);
        if (new Set(consumed.map(x => x.messageId)).size >= 6) wake();
        return ConsumeResult.SUCCESS;
      },
    },
  }));
  await started(push, 'PushConsumer (TLS)');

  const producer = await ctx.producer(topic, 'tls-push-producer', TLS);
  const sent = new Map();
  for (let i = 0; i < 6; i++) {
    const r = await within(10000, `send #${i}`, producer.send({ topic, tag: 'P', body: Buffer.from(`tls-push-${i}`) }));
    sent.set(r.messageId, i);
  }
  await within(20000, `the listener gets all 6 messages (got ${consumed.length} so far)`, allConsumed);
  await sleep(1000); // room for a duplicate to show up
  // (ctx.close shuts the PushConsumer down bounded at 8 s: the SDK waits out its long poll.)
  assert.equal(consumed.length, 6, `each message once: ${consumed.map(m => `${m.body}#${m.deliveryAttempt}`)}`);
  assert.deepEqual(new Set(consumed.map(m => m.messageId)), new Set(sent.keys()));
  for (const m of consumed) assert.equal(m.body.toString(), `tls-push-${sent.get(m.messageId)}`);
}));

test('over TLS against the broker\'s own self-signed certificate (not the CA\'s): the client fails, naming the certificate', { timeout: 60000 }, async () => {
  const other = await Broker.start(); // no grpcTlsCertPath: a self-signed certificate of its own
  try {
    const topic = unique('NodeTlsUntrusted');
    await other.createTopic(topic);
    const log = ctx.log('untrusted-producer');
    const producer = new Producer({ endpoints: other.endpoint, namespace: '', topic, sslEnabled: true, logger: log });
    const t0 = Date.now();
    let failure;
    try {
      await started(producer, 'Producer (TLS, untrusted certificate)');
      await within(15000, 'send over an untrusted TLS connection', producer.send({ topic, body: Buffer.from('must not arrive') }));
    } catch (e) {
      failure = e;
    }
    assert.ok(failure, 'a TLS client trusted a certificate its roots did not sign');
    const text = `${messages(failure)}\n${log.last(200)}`;
    assert.ok(!/timed out after/.test(messages(failure)), `it hung instead of failing: ${messages(failure)}`);
    assert.match(text, /self-signed certificate|certificate/i, `the failure does not name the certificate: ${text.slice(-2000)}`);
    assert.ok(Date.now() - t0 < 15000, `failing took ${Date.now() - t0} ms`);
    process.stderr.write(`tls: untrusted certificate refused in ${Date.now() - t0} ms: ${messages(failure).slice(0, 300)}\n`);
    await within(8000, 'shutdown', producer.shutdown()).catch(() => {});
  } finally {
    await other.stop();
  }
});
