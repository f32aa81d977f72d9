// infusion-server's HTTP API driven by a client no one here wrote: the official `openai` npm
// package (pinned in package-lock.json). Starts the real server on a tiny random-weight model with
// API keys, and checks what an OpenAI client sees: the models list, chat (plain, streamed, with
// an image), completions, images, and the errors (400 naming the field, 401, 404, 413, 429).
//
//   INFUSION_SERVER_BIN=... INFUSION_TEST_MODEL_DIR=... INFUSION_TEST_IMAGE=... node --test
import { spawn, spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';

import OpenAI, { toFile } from 'openai';

const SERVER = process.env.INFUSION_SERVER_BIN;
const MODEL_DIR = process.env.INFUSION_TEST_MODEL_DIR;
const IMAGE = process.env.INFUSION_TEST_IMAGE;
const PROMTOOL = process.env.INFUSION_PROMTOOL;
const KEY = 'sk-test-key';
const MODEL = path.basename(MODEL_DIR);
const START_TIMEOUT_MS = 120_000;

// The server process, its ports and its log.
class Server {
  // `ca`: the server serves TLS with this certificate (PEM), which clients then trust.
  static async start(flags, ca = undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'infusion-http-'));
    const keys = path.join(dir, 'keys');
    fs.writeFileSync(keys, `# test keys\n${KEY}\n`);
    const portFile = path.join(dir, 'ports');
    const log = fs.openSync(path.join(dir, 'log'), 'w');
    const child = spawn(SERVER, [
      `--model=${MODEL_DIR}`, '--host=127.0.0.1', '--port=0', '--metrics_port=0', '--http_port=0',
      `--port_file=${portFile}`, '--threads=1', `--api_keys_file=${keys}`, ...flags,
    ], { stdio: ['ignore', log, log] });
    const server = new Server(child, dir);
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    server.exited = exited;
    // The port file appears (renamed into place, never half-written) once every port listens.
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!fs.existsSync(portFile)) {
      const done = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 50))]);
      if (done) throw new Error(`infusion-server exited (${JSON.stringify(done)}):\n${server.log()}`);
      if (Date.now() > deadline) throw new Error(`no port file:\n${server.log()}`);
    }
    const ports = Object.fromEntries(fs.readFileSync(portFile, 'utf8').trim().split('\n')
      .map((line) => line.split(' ')));
    assert.ok(ports.http, `no http line in the port file: ${JSON.stringify(ports)}`);
    server.url = `${ca ? 'https' : 'http'}://127.0.0.1:${ports.http}`;
    server.metricsUrl = `http://127.0.0.1:${ports.metrics}`;  // --metrics_port: plain HTTP
    server.ca = ca;
    // /ready turns 200 after the warm-up request.
    while ((await server.request('/ready')).status !== 200) {
      if (Date.now() > deadline) throw new Error(`never ready:\n${server.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return server;
  }

  constructor(child, dir) {
    this.child = child;
    this.dir = dir;
  }

  log() { return fs.readFileSync(path.join(this.dir, 'log'), 'utf8'); }

  // A plain request through node's own http(s) stack, trusting `ca` when the server has TLS.
  request(route, { method = 'GET', body, key = KEY, headers = {} } = {}) {
    const url = new URL(route, this.url);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, {
        method,
        ca: this.ca,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (piece) => { text += piece; });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  client(options = {}) {
    return new OpenAI({ baseURL: `${this.url}/v1`, apiKey: KEY, timeout: 60_000, ...options });
  }

  async metric(series) {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
    }
    return 0;  // a labelled counter appears at its first increment
  }

  // Waits until the engine holds no request and no KV block.
  async awaitIdle(timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.metric('infusion_requests_running') === 0 &&
          await this.metric('infusion_requests_waiting') === 0 &&
          await this.metric('infusion_kv_cache_usage_ratio') === 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('the engine did not become idle');
  }

  // SIGTERM (a drain); the exit code and the log.
  async stop() {
    this.child.kill('SIGTERM');
    const { code } = await this.exited;
    const log = this.log();
    fs.rmSync(this.dir, { recursive: true, force: true });
    return { code, log };
  }
}

// The size in a JPEG's start-of-frame segment.
function jpegSize(bytes) {
  assert.deepEqual([...bytes.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  for (let at = 2; at + 9 < bytes.length;) {
    assert.equal(bytes[at], 0xff);
    const marker = bytes[at + 1];
    if (marker === 0xc0 || marker === 0xc2) {
      return { width: bytes.readUInt16BE(at + 7), height: bytes.readUInt16BE(at + 5) };
    }
    at += 2 + bytes.readUInt16BE(at + 2);
  }
  throw new Error('no start-of-frame segment');
}

function pngSize(bytes) {
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

async function expectError(promise, status, param) {
  await assert.rejects(promise, (error) => {
    assert.equal(error.status, status, `${error}`);
    if (param !== undefined) assert.equal(error.param, param, `${error}`);
    assert.ok(error.message.length > 0);
    return true;
  });
}

// A black RGB PNG of width x height, written here: small to send (its rows deflate ~1000:1) and
// costly to decode (width x height x 3 bytes to inflate, then to resize).
function blackPng(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (bytes) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);  // 8-bit RGB, deflate, no filter method, no interlace
  const rows = Buffer.alloc(height * (1 + width * 3));  // filter byte 0, black pixels
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const HELLO = [{ role: 'user', content: 'a red circle' }];

describe('infusion-server over HTTP with the openai client', () => {
  let server;
  let client;

  before(async () => {
    server = await Server.start(['--max_message_mb=1', '--max_image_bytes=65536', '--max_running=1']);
    client = server.client();
  });

  after(async () => {
    if (server) {
      const { code, log } = await server.stop();
      assert.equal(code, 0, log);
    }
  });

  test('lists the model', async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model);
    assert.deepEqual(models.map((m) => m.id), [MODEL]);
    assert.equal((await client.models.retrieve(MODEL)).id, MODEL);
  });

  test('chat: plain and streamed give the same greedy reply, with usage', async () => {
    const params = { model: MODEL, messages: HELLO, max_tokens: 12, temperature: 0, seed: 7 };
    const whole = await client.chat.completions.create(params);
    assert.equal(whole.object, 'chat.completion');
    assert.equal(whole.choices.length, 1);
    const reply = whole.choices[0];
    assert.equal(reply.message.role, 'assistant');
    assert.equal(typeof reply.message.content, 'string');
    assert.ok(['stop', 'length'].includes(reply.finish_reason), reply.finish_reason);
    assert.ok(whole.usage.prompt_tokens > 0);
    assert.ok(whole.usage.completion_tokens >= 1 && whole.usage.completion_tokens <= 12);
    assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);

    const stream = await client.chat.completions.create(
      { ...params, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let role;
    let finish;
    let usage;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      if (chunk.choices.length === 0) continue;
      role ??= chunk.choices[0].delta.role;
      text += chunk.choices[0].delta.content ?? '';
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    assert.equal(role, 'assistant');
    assert.equal(text, reply.message.content);
    assert.equal(finish, reply.finish_reason);
    assert.deepEqual(usage, whole.usage);
  });

  test('chat stream ends with data: [DONE]', async () => {
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: HELLO, max_tokens: 4, stream: true }),
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^text\/event-stream/);
    const body = await response.text();
    assert.ok(body.endsWith('data: [DONE]\n\n'), body);
    assert.ok(body.startsWith('data: {'), body);
  });

  test('max_tokens = 1 ends with length', async () => {
    const whole = await client.chat.completions.create(
      { model: MODEL, messages: HELLO, max_completion_tokens: 1, ignore_eos: true });
    assert.equal(whole.choices[0].finish_reason, 'length');
    assert.equal(whole.usage.completion_tokens, 1);
  });

  test('completions: plain and streamed', async () => {
    const params = { model: MODEL, prompt: 'a blue square', max_tokens: 8, temperature: 0 };
    const whole = await client.completions.create(params);
    assert.equal(whole.object, 'text_completion');
    assert.equal(typeof whole.choices[0].text, 'string');
    assert.ok(['stop', 'length'].includes(whole.choices[0].finish_reason));
    assert.ok(whole.usage.completion_tokens >= 1);
    let text = '';
    for await (const chunk of await client.completions.create({ ...params, stream: true })) {
      text += chunk.choices[0]?.text ?? '';
    }
    assert.equal(text, whole.choices[0].text);
  });

  test('chat with an image part (captioning)', async () => {
    const png = fs.readFileSync(IMAGE).toString('base64');
    const text = await client.chat.completions.create(
      { model: MODEL, messages: [{ role: 'user', content: 'what is this?' }], max_tokens: 4 });
    const withImage = await client.chat.completions.create({
      model: MODEL,
      max_tokens: 4,
      messages: [
        { role: 'system', content: 'You describe images.' },
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
            { type: 'text', text: 'what is this?' },
          ],
        },
      ],
    });
    assert.equal(typeof withImage.choices[0].message.content, 'string');
    // The image's patches are prompt positions.
    assert.ok(withImage.usage.prompt_tokens > text.usage.prompt_tokens + 4,
      `${withImage.usage.prompt_tokens} vs ${text.usage.prompt_tokens}`);
  });

  test('images: n = 2 PNGs of the model size, each with its seed', async () => {
    const images = await client.images.generate(
      { model: MODEL, prompt: 'a red circle', n: 2, size: '32x32', response_format: 'b64_json',
        steps: 2, seed: 5 });
    assert.equal(images.data.length, 2);
    for (const image of images.data) {
      assert.deepEqual(pngSize(Buffer.from(image.b64_json, 'base64')), { width: 32, height: 32 });
    }
    assert.deepEqual(images.data.map((i) => i.seed), [5, 6]);
    // The seed reproduces the image.
    const again = await client.images.generate(
      { prompt: 'a red circle', steps: 2, seed: 6 });
    assert.equal(again.data[0].b64_json, images.data[1].b64_json);
  });

  test('output_format jpeg: generations, edits and streams', async () => {
    const images = await client.images.generate(
      { prompt: 'a red circle', n: 2, steps: 2, seed: 5, output_format: 'jpeg', output_compression: 80 });
    assert.equal(images.output_format, 'jpeg');
    for (const image of images.data) {
      assert.deepEqual(jpegSize(Buffer.from(image.b64_json, 'base64')), { width: 32, height: 32 });
    }
    const image = await toFile(fs.readFileSync(IMAGE), 'red_circle.png', { type: 'image/png' });
    const edits = await client.images.edit(
      { image, prompt: 'make it blue', steps: 2, output_format: 'jpeg' });
    assert.deepEqual(jpegSize(Buffer.from(edits.data[0].b64_json, 'base64')), { width: 32, height: 32 });
    const events = [];
    for await (const event of await client.images.generate(
      { prompt: 'a red circle', steps: 4, stream: true, partial_images: 1, output_format: 'jpeg' })) {
      events.push(event);
    }
    assert.deepEqual(events.map((e) => e.output_format), ['jpeg', 'jpeg']);
    for (const event of events) jpegSize(Buffer.from(event.b64_json, 'base64'));
    await expectError(client.images.generate({ prompt: 'x', output_format: 'webp' }), 400, 'output_format');
    await expectError(client.images.generate({ prompt: 'x', output_format: 'jpeg', output_compression: 101 }),
      400, 'output_compression');
  });

  test('image edits: a multipart upload, n = 2', async () => {
    const image = await toFile(fs.readFileSync(IMAGE), 'red_circle.png', { type: 'image/png' });
    const edits = await client.images.edit(
      { model: MODEL, image, prompt: 'make the circle blue', n: 2, size: '32x32', steps: 2, seed: 3 });
    assert.equal(edits.data.length, 2);
    for (const edit of edits.data) {
      assert.deepEqual(pngSize(Buffer.from(edit.b64_json, 'base64')), { width: 32, height: 32 });
    }
    assert.deepEqual(edits.data.map((i) => i.seed), [3, 4]);
    const notImage = await toFile(Buffer.from('not an image'), 'x.png', { type: 'image/png' });
    await expectError(client.images.edit({ image: notImage, prompt: 'make it blue' }), 400, 'image');
  });

  test('images streamed: partial images, then the completed image', async () => {
    const params = { prompt: 'a red circle', steps: 6, seed: 11 };
    const whole = await client.images.generate(params);
    const events = [];
    for await (const event of await client.images.generate(
      { ...params, stream: true, partial_images: 2 })) {
      events.push(event);
    }
    assert.deepEqual(events.map((e) => e.type), ['image_generation.partial_image',
      'image_generation.partial_image', 'image_generation.completed']);
    assert.deepEqual(events.slice(0, 2).map((e) => e.partial_image_index), [0, 1]);
    for (const event of events) {
      assert.deepEqual(pngSize(Buffer.from(event.b64_json, 'base64')), { width: 32, height: 32 });
    }
    // Previews do not change the image.
    assert.equal(events[2].b64_json, whole.data[0].b64_json);
    assert.equal(events[2].seed, 11);

    const image = await toFile(fs.readFileSync(IMAGE), 'red_circle.png', { type: 'image/png' });
    const edits = [];
    for await (const event of await client.images.edit(
      { image, prompt: 'make it blue', steps: 4, stream: true, partial_images: 1 })) {
      edits.push(event.type);
    }
    assert.deepEqual(edits, ['image_edit.partial_image', 'image_edit.completed']);
    await expectError(client.images.generate({ prompt: 'x', n: 2, stream: true }), 400, 'n');
  });

  test('400 names the field', async () => {
    await expectError(client.chat.completions.create({ model: MODEL, messages: [] }), 400, 'messages');
    await expectError(client.chat.completions.create(
      { model: MODEL, messages: HELLO, temperature: -1 }), 400, 'temperature');
    await expectError(client.chat.completions.create(
      { model: MODEL, messages: HELLO, top_p: 2 }), 400, 'top_p');
    await expectError(client.chat.completions.create(
      { model: MODEL, messages: HELLO, max_completion_tokens: 0 }), 400, 'max_completion_tokens');
    await expectError(client.chat.completions.create(
      { model: MODEL, messages: [{ role: 'robot', content: 'hi' }] }), 400, 'messages[0].role');
    await expectError(client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }],
    }), 400, 'messages[0].content[0].image_url.url');
    await expectError(client.images.generate({ prompt: 'a red circle', size: '1024x1024' }), 400, 'size');
    await expectError(client.completions.create({ model: MODEL, prompt: '' }), 400, 'prompt');
  });

  test('401 for a wrong or missing key', async () => {
    await expectError(server.client({ apiKey: 'sk-wrong' }).models.list(), 401);
    const response = await fetch(`${server.url}/v1/models`);
    assert.equal(response.status, 401);
    assert.equal((await response.json()).error.code, 'invalid_api_key');
  });

  test('404 for an unknown model or route; 413 for a large body', async () => {
    await expectError(client.chat.completions.create({ model: 'gpt-4o', messages: HELLO }), 404, 'model');
    const route = await fetch(`${server.url}/v1/nothing`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(route.status, 404);
    assert.equal((await route.json()).error.code, 'not_found');
    const big = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(2 << 20) }] }),
    });
    assert.equal(big.status, 413);
    assert.ok((await big.json()).error.message.length > 0);
  });

  test('x-request-id is echoed, names the reply and the log line', async () => {
    const reply = await server.request('/v1/chat/completions', {
      method: 'POST', body: { messages: HELLO, max_tokens: 2 }, headers: { 'x-request-id': 'req-42' },
    });
    assert.equal(reply.status, 200, reply.body);
    assert.equal(reply.headers['x-request-id'], 'req-42');
    assert.equal(JSON.parse(reply.body).id, 'chatcmpl-req-42');
    const lines = server.log().split('\n').filter((l) => l.includes('"request_id":"req-42"'));
    assert.equal(lines.length, 1, server.log());
    const logged = JSON.parse(lines[0].slice(lines[0].indexOf('{')));
    const usage = JSON.parse(reply.body).usage;
    assert.equal(logged.frontend, 'http');
    assert.equal(logged.status, 'OK');
    assert.equal(logged.kind, 'ChatCompletions');
    assert.equal(logged.output_tokens, usage.completion_tokens);
    assert.equal(logged.prompt_tokens, usage.prompt_tokens);
    assert.equal(logged.image_steps, 0);
    assert.ok(logged.latency_seconds > 0);
    // Without the header, one is made up.
    assert.match((await server.request('/v1/models')).headers['x-request-id'], /^[0-9a-f]{16}$/);
    // A client's id is cut to 128 characters and characters other than letters, digits and
    // -_.:/+=@~ replaced, in the reply and in the log line alike.
    const long = await server.request('/v1/models', { headers: { 'x-request-id': 'a b"c' + 'x'.repeat(300) } });
    const cut = 'a_b_c' + 'x'.repeat(123);
    assert.equal(long.headers['x-request-id'], cut);
    assert.ok(server.log().includes(`"request_id":"${cut}"`), server.log());
  });

  test('health, ready and metrics, on the HTTP port and the metrics port', async () => {
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    assert.equal((await fetch(`${server.url}/ready`)).status, 200);
    assert.equal((await fetch(`${server.metricsUrl}/health`)).status, 200);
    assert.equal((await fetch(`${server.metricsUrl}/v1/models`)).status, 404);
    assert.ok(PROMTOOL, 'promtool (Debian package prometheus) is needed');
    for (const url of [server.url, server.metricsUrl]) {
      const metrics = await fetch(`${url}/metrics`);
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      const value = (series) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        return line === undefined ? 0 : Number(line.slice(series.length + 1));
      };
      assert.match(text, /^# HELP /m);
      assert.ok(value('infusion_requests_total{code="OK",frontend="http",rpc="ChatCompletions"}') >= 1, text);
      assert.ok(value('infusion_requests_total{code="OK",frontend="http",rpc="Models"}') >= 1, text);
      assert.equal(value('infusion_requests_total{code="CANCELLED",frontend="http",rpc="Models"}'), 0);
      assert.equal(value('infusion_requests_total{code="UNAUTHENTICATED",frontend="http",rpc="Models"}'), 2);
      // Finish reasons, and the lengths of the requests that ended normally.
      assert.ok(value('infusion_request_finished_total{frontend="http",reason="length"}') >= 1, text);
      assert.ok(value('infusion_request_finished_total{frontend="http",reason="image"}') >= 1, text);
      const outputs = value('infusion_request_generation_tokens_count{frontend="http"}');
      assert.ok(outputs >= 1, text);
      assert.equal(value('infusion_request_generation_tokens_bucket{frontend="http",le="+Inf"}'), outputs);
      assert.ok(value('infusion_request_generation_tokens_sum{frontend="http"}') >= outputs, text);
      assert.ok(value('infusion_request_prompt_tokens_sum{frontend="http"}') >=
                value('infusion_request_prompt_tokens_count{frontend="http"}'), text);
      assert.ok(value('infusion_time_to_first_token_seconds_count{frontend="http"}') >= 1, text);
      assert.equal(value('infusion_time_to_first_token_seconds_count{frontend="grpc"}'), 0);
      // The process and the build.
      const now = Date.now() / 1000;
      assert.ok(value('process_start_time_seconds') > now - 3600 && value('process_start_time_seconds') <= now + 1, text);
      assert.ok(value('process_resident_memory_bytes') > 1 << 20, text);
      assert.ok(value('process_cpu_seconds_total') > 0, text);
      assert.ok(value('process_open_fds') > 3, text);
      assert.ok(value('process_max_fds') >= value('process_open_fds'), text);
      assert.match(text, /^infusion_build_info\{version="\d+\.\d+\.\d+"\} 1$/m);
      const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, `${url}: ${check.stdout}${check.stderr}`);
    }
  });

  // The tiny model writes a whole reply in milliseconds, faster than a client can leave; so the
  // stream waits in the queue behind images (the server runs one request at a time), and its
  // client leaves there. The server's probe of the silent stream finds the closed connection and
  // cancels the request before it ever runs.
  test('a client that leaves cancels its stream', async () => {
    await server.awaitIdle();
    const cancelled = 'infusion_requests_total{code="CANCELLED",frontend="http",rpc="ChatCompletions"}';
    const before = await server.metric(cancelled);
    const tokensBefore = await server.metric('infusion_generation_tokens_total');
    const images = [1, 2].map((seed) => client.images.generate(
      { prompt: 'a red circle', n: 8, steps: 1000, seed }));
    const deadline = Date.now() + 30_000;
    while (await server.metric('infusion_requests_waiting') < 15 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const stream = await client.chat.completions.create(
      { model: MODEL, messages: HELLO, max_tokens: 20, stream: true });
    for await (const chunk of stream) {
      assert.equal(chunk.choices[0].delta.role, 'assistant');
      break;  // the client closes the connection
    }
    while (await server.metric(cancelled) === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await server.metric(cancelled), before + 1);
    assert.ok(await server.metric('infusion_requests_waiting') > 0, 'the images ended first');
    for (const call of await Promise.all(images)) assert.equal(call.data.length, 8);
    await server.awaitIdle();
    assert.equal(await server.metric('infusion_generation_tokens_total'), tokensBefore);
  });

  // A reply computed whole writes nothing until it is done, so the server probes the connection
  // while it waits: a call of 8 images of 1000 denoising steps, whose client leaves while the
  // first runs, is cancelled and its KV blocks freed long before its 8000 steps are done. (One
  // such image of the test model takes ~0.12 s on an idle machine, hardly longer than the time
  // the client takes to leave plus the probe's 100 ms: it could end before it is noticed.)
  test('a client that leaves a call without a stream cancels it', async () => {
    await server.awaitIdle();
    const cancelled = 'infusion_requests_total{code="CANCELLED",frontend="http",rpc="ImageGenerations"}';
    const before = await server.metric(cancelled);
    const stepsBefore = await server.metric('infusion_denoise_steps_total');
    const abort = new AbortController();
    const call = client.images.generate({ prompt: 'a red circle', n: 8, steps: 1000, seed: 9 },
      { signal: abort.signal, maxRetries: 0 });
    const deadline = Date.now() + 30_000;
    while ((await server.metric('infusion_requests_running') < 1 ||
            await server.metric('infusion_kv_cache_usage_ratio') === 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(await server.metric('infusion_kv_cache_usage_ratio') > 0, 'the image never ran');
    abort.abort();
    await assert.rejects(call);
    while (await server.metric(cancelled) === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await server.metric(cancelled), before + 1);
    await server.awaitIdle();  // no request left, every KV block back
    assert.ok(await server.metric('infusion_denoise_steps_total') - stepsBefore < 4000,
      'the images ran on after the client left');
    assert.ok(await server.metric('infusion_request_finished_total{frontend="http",reason="cancelled"}') >= 1);
  });
  // The images of a call are decoded before the engine sees it, on the handler's thread; a
  // client that leaves meanwhile stops that work between two images (RequestOptions::cancelled),
  // as a gRPC client's cancel does. The call's last image is not one: had the work gone on, the
  // answer would be 400 about it. Twelve 4096 x 4096 images take seconds to decode and resize
  // here, and far longer than the 200 ms the client waits before it leaves.
  test('a client that leaves while its images are decoded stops the decoding', async () => {
    await server.awaitIdle();
    const series = (code) => `infusion_requests_total{code="${code}",frontend="http",rpc="ChatCompletions"}`;
    const cancelledBefore = await server.metric(series('CANCELLED'));
    const invalidBefore = await server.metric(series('INVALID_ARGUMENT'));
    const url = `data:image/png;base64,${blackPng(4096, 4096).toString('base64')}`;
    const parts = Array.from({ length: 12 }, () => ({ type: 'image_url', image_url: { url } }));
    parts.push({ type: 'image_url', image_url: { url: 'data:image/png;base64,bm90IGFuIGltYWdl' } });
    const body = JSON.stringify({ model: MODEL, max_tokens: 4, messages: [{ role: 'user', content: parts }] });
    assert.ok(body.length < 1 << 20, `${body.length} bytes, over --max_message_mb`);
    const closed = new Promise((resolve) => {
      const req = http.request(new URL('/v1/chat/completions', server.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      }, () => resolve('answered'));
      req.on('error', () => resolve('closed'));
      req.on('finish', () => setTimeout(() => { req.destroy(); }, 200));  // the body is sent
      req.end(body);
    });
    assert.equal(await closed, 'closed', 'the server answered before the client left');
    const deadline = Date.now() + 60_000;
    while (await server.metric(series('CANCELLED')) === cancelledBefore && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await server.metric(series('CANCELLED')), cancelledBefore + 1);
    assert.equal(await server.metric(series('INVALID_ARGUMENT')), invalidBefore,
      'the decoding reached the last image');
    await server.awaitIdle();
  });
});

describe('HTTPS with --tls_cert and --tls_key', () => {
  let server;

  before(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'infusion-tls-'));
    const cert = path.join(dir, 'server.crt');
    const key = path.join(dir, 'server.key');
    const openssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
      'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
    assert.equal(openssl.status, 0, `${openssl.stderr}`);
    server = await Server.start([`--tls_cert=${cert}`, `--tls_key=${key}`], fs.readFileSync(cert));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  after(async () => {
    if (server) {
      const { code, log } = await server.stop();
      assert.equal(code, 0, log);
    }
  });

  test('ready and chat over TLS; plaintext gets no answer', async () => {
    assert.equal((await server.request('/ready')).status, 200);
    const reply = await server.request('/v1/chat/completions',
      { method: 'POST', body: { messages: HELLO, max_tokens: 3 } });
    assert.equal(reply.status, 200, reply.body);
    assert.equal(JSON.parse(reply.body).object, 'chat.completion');
    await assert.rejects(fetch(server.url.replace('https:', 'http:') + '/ready'));
  });

  // What a container's HEALTHCHECK and a readiness probe see: /ready over HTTPS turns 503 when
  // the server starts draining, while the running call still finishes.
  test('ready turns 503 over TLS during a drain', async () => {
    // Eight images of 1000 steps (~1 s on an idle machine; one alone can end, and the drain with
    // it, before /ready is asked).
    const images = server.request('/v1/images/generations',
      { method: 'POST', body: { prompt: 'a red circle', n: 8, steps: 1000, seed: 3 } });
    const deadline = Date.now() + 30_000;
    while ((await (await fetch(`${server.metricsUrl}/metrics`)).text())
      .match(/^infusion_requests_running 0$/m) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    server.child.kill('SIGTERM');
    let ready = 200;
    while ((ready = (await server.request('/ready')).status) !== 503 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(ready, 503);
    const reply = await images;
    assert.equal(reply.status, 200, reply.body);
    assert.equal(JSON.parse(reply.body).data.length, 8);
    const { code, log } = await server.stop();
    server = null;
    assert.equal(code, 0, log);
  });
});

describe('a burst beyond the queue', () => {
  let server;

  before(async () => {
    server = await Server.start(['--max_running=1', '--max_queued=2']);
  });

  after(async () => {
    if (server) {
      const { code, log } = await server.stop();
      assert.equal(code, 0, log);
    }
  });

  test('429 with Retry-After, and the rest answered', async () => {
    const client = server.client({ maxRetries: 0 });
    const calls = Array.from({ length: 8 }, () => client.chat.completions.create(
      { model: MODEL, messages: HELLO, max_tokens: 100, ignore_eos: true }).withResponse()
      .then(() => 200, (error) => {
        assert.equal(error.status, 429, `${error}`);
        assert.equal(error.headers.get('retry-after'), '1');
        assert.equal(error.code, 'queue_full');
        return 429;
      }));
    const statuses = await Promise.all(calls);
    assert.ok(statuses.includes(429), `${statuses}`);
    assert.ok(statuses.includes(200), `${statuses}`);
  });

  test('a drain: /ready and new calls 503, the running call finishes, exit 0', async () => {
    const client = server.client({ maxRetries: 0 });
    await server.awaitIdle();
    // Two images of 1000 steps keep the engine busy for a while: the queue takes both, then one
    // runs while the other waits (one image alone takes ~0.12 s on an idle machine, close to the
    // polling below).
    const images = client.images.generate({ prompt: 'a red circle', steps: 1000, seed: 3, n: 2 });
    const deadline = Date.now() + 30_000;
    while (await server.metric('infusion_requests_running') < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    server.child.kill('SIGTERM');
    while ((await fetch(`${server.url}/ready`)).status !== 503 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal((await fetch(`${server.url}/ready`)).status, 503);
    await expectError(client.chat.completions.create({ model: MODEL, messages: HELLO }), 503);
    assert.equal((await images).data.length, 2);
    const { code, log } = await server.stop();
    server = null;
    assert.equal(code, 0, log);
  });
});
