import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEsClient, shownEsUrl } from '../src/index.js';

test('a node list becomes one client over every node', async () => {
  const one = createEsClient({ url: 'http://127.0.0.1:9200' });
  const three = createEsClient({ url: 'http://127.0.0.1:9201, http://127.0.0.1:9202,http://127.0.0.1:9203' });
  try {
    assert.equal(one.connectionPool.size, 1);
    assert.equal(three.connectionPool.size, 3);
    assert.deepEqual(
      three.connectionPool.connections.map((c) => c.url.port),
      ['9201', '9202', '9203'],
    );
  } finally {
    await one.close();
    await three.close();
  }
});

test('messages show each node without credentials', () => {
  assert.equal(
    shownEsUrl('https://elastic:secret@es-0:9200,https://es-1:9200/'),
    'https://es-0:9200,https://es-1:9200',
  );
  assert.equal(shownEsUrl('http://127.0.0.1:9200'), 'http://127.0.0.1:9200');
});
