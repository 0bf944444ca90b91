'use strict';
// PushConsumer: assignments, auto-renewed receives, the listener gets every message once,
// with tag, keys and properties; its acks take effect.

const test = require('node:test');
const assert = require('node:assert/strict');
const { PushConsumer, ConsumeResult } = require('rocketmq-client-nodejs');
const { Broker, Ctx, explained, unique, started, within, sleep } = require('./harness');

const ctx = new Ctx();
test.before(async () => { ctx.broker = await Broker.start(); });
test.after(async () => { await ctx.close(); });

test('PushConsumer consumes every message once and acks', { timeout: 90000 }, () => explained(ctx, async () => {
  const broker = ctx.broker;
  const topic = unique('NodePush');
  const group = unique('NodePushGroup');
  await broker.createTopic(topic);
  await broker.createGroup(group);

  await ctx.prime(group, topic, 'primer');

  const consumed = [];
  let wake;
  const allConsumed = new Promise(resolve => { wake = resolve; });
  const push = ctx.track(new PushConsumer({
    endpoints: broker.endpoint,
    namespace: '',
    consumerGroup: group,
    subscriptions: new Map([ [ topic, 'TagP' ] ]),
    logger: ctx.log('push-consumer'),
    messageListener: {
      async consume(m) {
        consumed.push(m);
        if (new Set(consumed.map(x => x.messageId)).size >= 8) wake();
        return ConsumeResult.SUCCESS;
      },
    },
  }));
  await started(push, 'PushConsumer');

  const producer = await ctx.producer(topic, 'producer');
  const sent = new Map();
  for (let i = 0; i < 8; i++) {
    const r = await within(10000, `send #${i}`, producer.send({
      topic, tag: 'TagP', keys: [ `push-${i}` ], properties: new Map([ [ 'n', String(i) ] ]), body: Buffer.from(`push-${i}`),
    }));
    sent.set(r.messageId, i);
  }
  // A message the filter keeps from the listener.
  await within(10000, 'send TagQ', producer.send({ topic, tag: 'TagQ', body: Buffer.from('filtered out') }));

  await within(25000, `the listener gets all 8 messages (got ${consumed.length} so far)`, allConsumed);
  await sleep(1500); // room for a duplicate or the filtered message to show up
  const ids = consumed.map(m => m.messageId);
  assert.equal(ids.length, 8, `each message once: ${consumed.map(m => `${m.body}#${m.deliveryAttempt}`)}`);
  assert.deepEqual(new Set(ids), new Set(sent.keys()));
  for (const m of consumed) {
    const i = sent.get(m.messageId);
    assert.equal(m.body.toString(), `push-${i}`);
    assert.equal(m.tag, 'TagP');
    assert.deepEqual(m.keys, [ `push-${i}` ]);
    assert.deepEqual(Object.fromEntries(m.properties), { n: String(i) });
    assert.equal(m.deliveryAttempt, 1);
    assert.equal(m.corrupted, undefined, 'body digest matches');
  }
  // The SDK's shutdown waits for its in-flight long poll (the server's 20 s) before it tells
  // the broker it is going away.
  const t0 = Date.now();
  await within(30000, 'PushConsumer shutdown', push.shutdown());
  ctx.clients.splice(ctx.clients.indexOf(push), 1);
  process.stderr.write(`push: shutdown took ${Date.now() - t0} ms\n`);

  // The acks took effect: the group has nothing to hand out (the broker makes the messages
  // of a client that goes away visible again at once, so unacked ones would show here).
  const checker = await ctx.simpleConsumer(group, topic, 'TagP', 'checker');
  const left = await within(15000, 'receive after push', checker.receive(32, 15000));
  assert.deepEqual(left.map(m => `${m.body}#${m.deliveryAttempt}`), [], 'nothing left for the group');
}));

test('PushConsumer on a FIFO topic with an orderly group keeps each message group in order', { timeout: 60000 }, () => explained(ctx, async () => {
  const broker = ctx.broker;
  const topic = unique('NodePushFifo');
  const group = unique('NodePushFifoGroup');
  await broker.createTopic(topic, { fifo: true });
  await broker.createGroup(group, { orderly: true });

  await ctx.prime(group, topic, 'fifo-primer');

  const GROUPS = [ 'g1', 'g2', 'g3' ];
  const PER_GROUP = 5;
  const consumed = [];
  let wake;
  const allConsumed = new Promise(resolve => { wake = resolve; });
  const push = ctx.track(new PushConsumer({
    endpoints: broker.endpoint,
    namespace: '',
    consumerGroup: group,
    subscriptions: new Map([ [ topic, '*' ] ]),
    logger: ctx.log('fifo-push-consumer'),
    messageListener: {
      async consume(m) {
        consumed.push(m);
        if (consumed.length >= GROUPS.length * PER_GROUP) wake();
        return ConsumeResult.SUCCESS;
      },
    },
  }));
  await started(push, 'PushConsumer (FIFO)');

  const producer = await ctx.producer(topic, 'fifo-producer');
  for (let seq = 0; seq < PER_GROUP; seq++) {
    for (const g of GROUPS) {
      await within(10000, `send ${g}#${seq}`, producer.send({ topic, messageGroup: g, body: Buffer.from(`${g}#${seq}`) }));
    }
  }

  await within(25000, 'the listener gets all FIFO messages', allConsumed);
  const bodies = consumed.map(m => String(m.body));
  for (const g of GROUPS) {
    const seqs = consumed.filter(m => m.messageGroup === g).map(m => Number(String(m.body).split('#')[1]));
    assert.deepEqual(seqs, [ ...Array(PER_GROUP).keys() ], `group ${g} in order, once each; consumed: ${bodies}`);
  }
  assert.equal(consumed.length, GROUPS.length * PER_GROUP, `each once: ${bodies}`);
  // Not waiting for the SDK's 20 s shutdown again here.
  await ctx.shutdown(push, 3000);
}));
