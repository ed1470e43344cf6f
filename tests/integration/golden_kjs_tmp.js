// Drives kafkajs 2.2.4 through the capture proxy (see tests/unit/protocol/golden/README.md).
'use strict';
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');
const kafka = new Kafka({ clientId: 'golden-kjs', brokers: ['127.0.0.1:19372'],
                          logLevel: logLevel.ERROR });
(async () => {
  const p = kafka.producer();
  await p.connect();
  for (const [name, ct] of [['none', CompressionTypes.None], ['gzip', CompressionTypes.GZIP]]) {
    await p.send({ topic: 'golden-kjs', acks: -1, compression: ct,
                   messages: [{ partition: 0, key: `k-${name}`, value: `v-${name}-kjs-golden`,
                                headers: { codec: name } }] });
  }
  await p.disconnect();
  const c = kafka.consumer({ groupId: 'golden-kjs-group', sessionTimeout: 10000,
                             heartbeatInterval: 1000 });
  await c.connect();
  await c.subscribe({ topic: 'golden-kjs', fromBeginning: true });
  let n = 0;
  await new Promise((resolve) => {
    c.run({ autoCommit: false, eachMessage: async ({ message }) => {
      n++;
      if (n === 3) {
        await c.commitOffsets([{ topic: 'golden-kjs', partition: 0, offset: '7' }]);
        resolve();
      }
    } });
  });
  await c.disconnect();
  console.log('consumed', n);
})().catch((e) => { console.error(e); process.exit(1); });
