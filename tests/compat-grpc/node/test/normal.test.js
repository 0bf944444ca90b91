'use strict';
// Producer -> SimpleConsumer on a NORMAL topic: tag filter, keys, user properties, message
// ids, ack, and an empty receive afterwards.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Broker, Ctx, explained, unique, receiveUntil, within } = require('./harness');

const ctx = new Ctx();
test.before(async () => { ctx.broker = await Broker.start(); });
test.after(async () => { await ctx.close(); });

test('send with tag, keys and properties; SimpleConsumer with a tag filter receives, acks, then finds nothing', { timeout: 60000 }, () => explained(ctx, async () => {
  const broker = ctx.broker;
  const topic = unique('NodeNormal');
  const group = unique('NodeNormalGroup');
  await broker.createTopic(topic);
  await broker.createGroup(group);

  const consumer = await ctx.simpleConsumer(group, topic, 'TagA', 'simple-consumer');

  // A new POP group starts at the end of each queue: one receive sets its offsets first.
  const before = await within(15000, 'first (empty) receive', consumer.receive(32, 15000));
  assert.equal(before.length, 0, 'a new group on a new topic has nothing to receive');

  const producer = await ctx.producer(topic, 'producer');

  const sent = new Map(); // messageId -> what was sent
  for (let i = 0; i < 10; i++) {
    const msg = {
      topic,
      tag: 'TagA',
      keys: [ `key-${i}`, `order-${i}` ],
      properties: new Map([ [ 'color', 'blue' ], [ 'index', String(i) ] ]),
      body: Buffer.from(`node-normal-${i}`),
    };
    const receipt = await within(10000, `send #${i}`, producer.send(msg));
    assert.ok(receipt.messageId, `send #${i} returned a message id`);
    sent.set(receipt.messageId, { ...msg, receipt });
    // Messages with another tag, which the filter must keep away.
    if (i % 3 === 0) {
      await within(10000, `send TagB #${i}`, producer.send({ topic, tag: 'TagB', body: Buffer.from(`node-other-${i}`) }));
    }
  }
  assert.equal(sent.size, 10, 'ten distinct message ids');

  const received = await receiveUntil(consumer, 10, 20000);
  const ids = received.map(m => m.messageId);
  assert.deepEqual(new Set(ids).size, ids.length, `no message twice: ${ids}`);
  for (const m of received) {
    assert.equal(m.tag, 'TagA', `the filter lets TagA only; got tag=${m.tag} body=${m.body}`);
  }
  assert.deepEqual(new Set(ids), new Set(sent.keys()), 'received exactly the ids the send receipts gave');

  for (const m of received) {
    const s = sent.get(m.messageId);
    assert.equal(m.topic, topic);
    assert.equal(m.body.toString(), s.body.toString(), 'body');
    assert.equal(m.corrupted, undefined, 'body digest matches the body');
    assert.deepEqual([ ...m.keys ].sort(), [ ...s.keys ].sort(), 'keys');
    assert.deepEqual(Object.fromEntries(m.properties), Object.fromEntries(s.properties), 'user properties (and nothing else)');
    assert.equal(m.deliveryAttempt, 1, 'first delivery');
    assert.ok(!m.messageGroup, `no message group on a normal message (got ${m.messageGroup})`);
    assert.ok(m.bornTimestamp instanceof Date && Math.abs(m.bornTimestamp - Date.now()) < 120000, `born timestamp ${m.bornTimestamp}`);
    assert.ok(m.bornHost, 'born host');
    assert.ok(m.receiptHandle, 'receipt handle');
    assert.equal(m.offset, s.receipt.offset, 'queue offset of the message equals the send receipt\'s offset');
    await within(10000, `ack ${m.messageId}`, consumer.ack(m));
  }

  const after = await within(15000, 'receive after ack', consumer.receive(32, 15000));
  assert.deepEqual(after.map(m => `${m.messageId} tag=${m.tag} attempt=${m.deliveryAttempt}`), [], 'nothing left after acking all');
}));
