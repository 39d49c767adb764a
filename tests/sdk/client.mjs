// Drives an HTTP endpoint with the official `openai` or `@anthropic-ai/sdk` package,
// as a user's program would, for the Python integration tests (tests/integ/sdk.py).
//
// stdin: one spec, or a JSON array of specs run one after another (one node start
// for many calls). A spec:
//   {"sdk": "openai" | "anthropic",
//    "api": "chat" | "responses" | "messages" | "models" | "completions" | "embeddings",
//    "base_url": "http://127.0.0.1:PORT/v1",  (the Anthropic SDK is given it without /v1)
//    "api_key": "...", "params": {...create() params...}, "stream": false | true,
//    "max_retries": 0, "timeout_ms": 30000, "headers": {...}}
// stdout: one result (or an array of them, in order):
//   {"ok": true, "result": <parsed object>, "request_id": ..., "headers": {...}}
//   {"ok": true, "events": [...], "final": ..., "request_id": ..., "headers": {...}}
//   {"ok": false, "error_class": "RateLimitError", "status": 429, "error": <parsed body>,
//    "message": ..., "headers": {...}, "events": [events before a mid-stream failure]}
// Every result also has "ms", how long the call took, and "attempts", how many HTTP
// requests the SDK made for it (its own retries included).
// The exit status is 0 whenever the driver worked, API errors included; 2 for a bad spec.

import { readFileSync } from 'node:fs';

// What a test looks at in a response's headers: the request id (OpenAI's and
// Anthropic's names), what the SDKs read to decide on retrying, and the gateway's own.
function headersOfInterest(h) {
    const out = {};
    if (!h) return out;
    const entries = typeof h.entries === 'function' ? h.entries() : Object.entries(h);
    for (const [k, v] of entries) {
        const name = k.toLowerCase();
        if (name === 'x-request-id' || name === 'request-id' || name === 'retry-after' ||
            name === 'retry-after-ms' || name === 'x-should-retry' ||
            name.startsWith('x-tailgate-')) {
            out[name] = v;
        }
    }
    return out;
}

class SpecError extends Error {}

async function makeClient(spec) {
    const base = String(spec.base_url || '');
    // Every answer's headers, streams and errors included, as the SDK's fetch saw them:
    // the last one is the answer the SDK returned (after its own retries, if any).
    const seen = { headers: null, attempts: 0 };
    const opts = {
        apiKey: spec.api_key ?? 'sk-test',
        fetch: async (url, init) => {
            seen.attempts++;
            const res = await fetch(url, init);
            seen.headers = res.headers;
            return res;
        },
    };
    if (spec.max_retries !== undefined) opts.maxRetries = spec.max_retries;
    if (spec.timeout_ms !== undefined) opts.timeout = spec.timeout_ms;
    if (spec.headers) opts.defaultHeaders = spec.headers;
    if (spec.sdk === 'openai') {
        const { default: OpenAI } = await import('openai');
        return { client: new OpenAI({ ...opts, baseURL: base }), seen };
    }
    if (spec.sdk === 'anthropic') {
        const { default: Anthropic } = await import('@anthropic-ai/sdk');
        // The Anthropic SDK adds /v1 to every path itself.
        return { client: new Anthropic({ ...opts, baseURL: base.replace(/\/v1\/?$/, '') }), seen };
    }
    throw new SpecError(`unknown sdk ${JSON.stringify(spec.sdk)}`);
}

// A non-streaming call through the SDK's withResponse(): parsed body and request id.
async function once(promise, seen) {
    const { data, request_id } = await promise.withResponse();
    return { ok: true, result: data, request_id: request_id ?? null, headers: headersOfInterest(seen.headers) };
}

async function models(client, spec, seen) {
    const id = spec.params?.id;
    if (id !== undefined) return once(client.models.retrieve(id), seen);
    const { data: page, request_id } = await client.models.list(spec.params?.query ?? {}).withResponse();
    return {
        ok: true,
        result: { data: page.getPaginatedItems(), has_more: page.hasNextPage() },
        request_id: request_id ?? null,
        headers: headersOfInterest(seen.headers),
    };
}

// Iterates one of the SDK's stream helpers, keeping every event it yields so that
// a failure part way still reports what came before it.
async function drain(stream, events) {
    // a copy: the SDKs build their snapshot by mutating the objects they yielded
    for await (const ev of stream) events.push(structuredClone(ev));
}

async function openaiChatStream(client, params, events) {
    const stream = client.chat.completions.stream(params);
    await drain(stream, events);
    const done = await stream.finalChatCompletion();
    const choice = done.choices[0] ?? {};
    return {
        text: choice.message?.content ?? null,
        finish_reason: choice.finish_reason ?? null,
        tool_calls: choice.message?.tool_calls ?? [],
        usage: done.usage ?? null,
    };
}

async function call(client, seen, spec, events) {
    const params = spec.params ?? {};
    const key = `${spec.sdk}.${spec.api}.${spec.stream ? 'stream' : 'once'}`;
    let final;
    switch (key) {
    case 'openai.chat.once':
        return once(client.chat.completions.create(params), seen);
    case 'openai.completions.once':
        return once(client.completions.create(params), seen);
    case 'openai.embeddings.once':
        return once(client.embeddings.create(params), seen);
    case 'openai.responses.once':
        return once(client.responses.create(params), seen);
    case 'anthropic.messages.once':
        return once(client.messages.create(params), seen);
    case 'openai.models.once':
    case 'anthropic.models.once':
        return models(client, spec, seen);
    case 'openai.chat.stream':
        final = await openaiChatStream(client, params, events);
        break;
    case 'openai.completions.stream': {
        // no stream helper for the legacy API: the raw Stream, joined here
        const stream = await client.completions.create({ ...params, stream: true });
        await drain(stream, events);
        const choices = events.flatMap((e) => e.choices ?? []);
        final = {
            text: choices.map((c) => c.text ?? '').join(''),
            finish_reason: choices.map((c) => c.finish_reason).filter(Boolean).pop() ?? null,
        };
        break;
    }
    case 'openai.responses.stream': {
        const stream = client.responses.stream(params);
        await drain(stream, events);
        final = await stream.finalResponse();
        break;
    }
    case 'anthropic.messages.stream': {
        const stream = client.messages.stream(params);
        await drain(stream, events);
        final = await stream.finalMessage();
        break;
    }
    default:
        throw new SpecError(`unsupported call ${key}`);
    }
    const headers = headersOfInterest(seen.headers);
    return {
        ok: true,
        events,
        final,
        request_id: headers['x-request-id'] ?? headers['request-id'] ?? null,
        headers,
    };
}

// An exception from the SDK as a result: its class (RateLimitError, APIConnectionError,
// ...), status and parsed error body for API errors, the message for the others.
function failure(err, seen, events) {
    return {
        ok: false,
        error_class: err?.constructor?.name ?? typeof err,
        status: err?.status ?? null,
        // the OpenAI SDK's ResponseStream rejects with the Responses `error` event itself
        error: err?.error ?? (err instanceof Error ? null : err ?? null),
        message: err?.message ?? String(err),
        request_id: err?.requestID ?? err?.request_id ?? null,
        // an error event in a stream has no headers of its own: the stream's are its
        headers: headersOfInterest(err?.headers ?? seen.headers),
        events,
    };
}

async function run(spec) {
    const { client, seen } = await makeClient(spec);
    const events = [];
    const start = performance.now();
    let out;
    try {
        out = await call(client, seen, spec, events);
    } catch (err) {
        if (err instanceof SpecError) throw err;
        out = failure(err, seen, events);
    }
    out.ms = Math.round(performance.now() - start); // the call, the SDK's retries included
    out.attempts = seen.attempts; // HTTP requests the SDK made: 1 + its own retries
    return out;
}

async function main() {
    const input = JSON.parse(readFileSync(0, 'utf8'));
    const specs = Array.isArray(input) ? input : [input];
    const out = [];
    for (const spec of specs) out.push(await run(spec)); // in order: mock scripts apply in order
    process.stdout.write(JSON.stringify(Array.isArray(input) ? out : out[0]) + '\n');
}

main().catch((err) => {
    process.stderr.write(`client.mjs: ${err instanceof SpecError ? err.message : err?.stack ?? err}\n`);
    process.exit(2);
});
