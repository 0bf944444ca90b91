'use strict';
// SimpleConsumer.changeInvisibleDuration: a message made visible again after 1 s comes back
// as delivery attempt 2, and an ack (also one after a change) takes effect.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Broker, Ctx, explained, unique, receiveUntil, within, sleep } = require('./harness');

const ctx = new Ctx();
test.before(async () => { ctx.broker = await Broker.start(); });
test.after(async () => { await ctx.close(); });

test('changeInvisibleDuration(1 s) brings the message back as attempt 2; ack after a change works', { timeout: 60000 }, () => explained(ctx, async () => {
  const broker = ctx.broker;
  const topic = unique('NodeInvisible');
  const group = unique('NodeInvisibleGroup');
  await broker.createTopic(topic);
  await broker.createGroup(group);

  const consumer = await ctx.simpleConsumer(group, topic, '*', 'simple-consumer');
  const before = await within(15000, 'first (empty) receive', consumer.receive(32, 15000));
  assert.equal(before.length, 0);

  const producer = await ctx.producer(topic, 'producer');
  const receipt = await within(10000, 'send', producer.send({ topic, tag: 'T', keys: [ 'k' ], body: Buffer.from('come back') }));

  const [ first, ...more ] = await receiveUntil(consumer, 1, 15000, { invisibleMs: 30000 });
  assert.ok(first, 'the message is received');
  assert.equal(more.length, 0);
  assert.equal(first.messageId, receipt.messageId);
  assert.equal(first.deliveryAttempt, 1);
  const firstHandle = first.receiptHandle;

  await within(10000, 'changeInvisibleDuration(1 s)', consumer.changeInvisibleDuration(first, 1000));
  assert.ok(first.receiptHandle, 'the change answers a receipt handle');
  assert.notEqual(first.receiptHandle, firstHandle, 'the change answers a new receipt handle');

  const changedAt = Date.now();
  const [ again ] = await receiveUntil(consumer, 1, 12000, { invisibleMs: 30000 });
  assert.ok(again, 'the message comes back after its invisible time of 1 s (was invisible for 30 s before the change)');
  assert.equal(again.messageId, receipt.messageId, 'the same message');
  assert.equal(again.body.toString(), 'come back');
  assert.equal(again.deliveryAttempt, 2, 'second delivery attempt');
  assert.ok(Date.now() - changedAt < 10000, 'back well before the original 30 s');

  // Change once more (to 2 s), then ack with the handle that change gave: the ack must
  // take effect, i.e. the message must not come back after those 2 s.
  const beforeChange = again.receiptHandle;
  await within(10000, 'changeInvisibleDuration(2 s)', consumer.changeInvisibleDuration(again, 2000));
  assert.notEqual(again.receiptHandle, beforeChange);
  await within(10000, 'ack after change', consumer.ack(again));
  await sleep(2500);
  const after = await within(15000, 'receive after ack', consumer.receive(32, 15000));
  assert.deepEqual(after.map(m => `${m.messageId} attempt=${m.deliveryAttempt}`), [], 'an acked message does not come back');

  // The first handle of the message is dead now.
  await assert.rejects(within(10000, 'ack with a stale handle', consumer.ack(first)), err => {
    assert.ok(err.code === 40012 || err.code === 40013 || err.code === 40401, `stale handle: code ${err.code} ${err.message}`);
    return true;
  });
}));
