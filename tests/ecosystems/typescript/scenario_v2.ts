// Charter v2 through openapi-fetch, typed by what openapi-typescript
// generated from /openapi/v2.json (./v2.ts).
//
// Usage: node scenario_v2.js BASE_URL
//
// Register, log in, create a channel, post three messages (one of them sent
// twice with the same Idempotency-Key), list them two to a page, follow the
// channel's event stream, refresh the tokens and call with the new access
// token. The first result that differs from the contract throws, and the
// process exits non-zero.

import createClient from "openapi-fetch";
import { check, expect, randomHex } from "./checks.js";
import type { components, paths } from "./v2.js";

type Message = components["schemas"]["Message"];
type MessageCreatedEvent = components["schemas"]["MessageCreatedEvent"];

// The event stream's body is typed as raw (`unknown`), not as one JSON
// document: with a schema on the stream this would be a ChannelEvent, and
// the constant below a compile error.
type StreamBody = paths["/api/v2/channels/{channel_id}/events"]["get"]["responses"][200]["content"][
  "text/event-stream"
];
const streamBodyIsRaw: unknown extends StreamBody ? true : false = true;

// How long the event stream may take to deliver what the scenario waits for.
const STREAM_TIMEOUT_MS = 10_000;

interface ServerSentEvent {
  id?: string;
  event?: string;
  data: string[];
}

/** Server-sent events from a byte stream, as the operation's description
 * says to read it: UTF-8 lines, `field: value`; an empty line ends an event,
 * a line starting with `:` is a comment (the keep-alive). */
async function* serverSentEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let event: ServerSentEvent = { data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffered.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + (buffered.startsWith("\r\n", end) ? 2 : 1));
      if (line === "") {
        if (event.data.length > 0) yield event;
        event = { data: [] };
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        const field = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (name === "id") event.id = field;
        else if (name === "event") event.event = field;
        else if (name === "data") event.data.push(field);
      }
    }
  }
}

/** Reads events until a `message.created` event has arrived for each of
 * `wanted`, each one a `MessageCreatedEvent` whose `seq` is its SSE id. */
async function awaitMessages(
  events: AsyncIterator<ServerSentEvent>,
  channelId: string,
  wanted: string[],
): Promise<void> {
  const missing = new Set(wanted);
  while (missing.size > 0) {
    const next = await events.next();
    check(!next.done, `event stream ended, still waiting for ${[...missing]}`);
    const event = next.value;
    if (event.event !== "message.created") continue;
    const created = JSON.parse(event.data.join("\n")) as MessageCreatedEvent;
    check(created.type === "message.created", `event ${event.event} of type ${created.type}`);
    check(created.channel_id === channelId, `event of another channel: ${created.channel_id}`);
    check(event.id === String(created.seq), `SSE id ${event.id} for seq ${created.seq}`);
    missing.delete(created.data.id);
  }
}

async function main(baseUrl: string): Promise<void> {
  check(streamBodyIsRaw, "the event stream is typed as a JSON document");
  const anonymous = createClient<paths>({ baseUrl });
  const as = (token: string) =>
    createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
  const email = `ts-${randomHex(8)}@example.com`;
  const password = randomHex(18);

  const me = expect(
    await anonymous.POST("/api/v2/auth/register", {
      body: { email, password, full_name: "TypeScript Scenario" },
    }),
    "register",
  );
  check(me.email === email, `registered as ${me.email}, not ${email}`);

  const tokens = expect(
    await anonymous.POST("/api/v2/auth/login", { body: { email, password } }),
    "login",
  );
  const user = as(tokens.access_token);

  const channel = expect(
    await user.POST("/api/v2/channels", { body: { name: `ts-${randomHex(6)}` } }),
    "create channel",
  );
  check(channel.owner_id === me.id, "the channel's owner is not its creator");
  const inChannel = { path: { channel_id: channel.id } };

  const post = async (text: string, key?: string): Promise<Message> =>
    expect(
      await user.POST("/api/v2/channels/{channel_id}/messages", {
        params: { ...inChannel, header: key === undefined ? {} : { "Idempotency-Key": key } },
        body: { body: text },
      }),
      `post ${JSON.stringify(text)}`,
    );

  const posted: Message[] = [];
  for (const text of ["first", "second", "third"]) {
    const key = randomHex(16);
    const message = await post(text, key);
    check(message.body === text, `posted ${text}, stored ${message.body}`);
    posted.push(message);
    if (text === "first") {
      // A retry with the same key and body replays the first answer.
      const replay = await post(text, key);
      check(replay.id === message.id, "a retried post created a second message");
    }
  }

  const listed: Message[] = [];
  let pages = 0;
  let cursor: string | undefined;
  do {
    const page = expect(
      await user.GET("/api/v2/channels/{channel_id}/messages", {
        params: { ...inChannel, query: { limit: 2, cursor } },
      }),
      `page ${pages + 1}`,
    );
    pages += 1;
    check(page.items.length <= 2, `page ${pages} has ${page.items.length} messages, limit 2`);
    listed.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== undefined);
  check(pages === 2, `three messages two to a page took ${pages} pages`);
  // Newest first.
  check(
    JSON.stringify(listed.map((m) => m.id)) === JSON.stringify(posted.map((m) => m.id).reverse()),
    `listed ${listed.map((m) => m.body)}`,
  );

  // From the start of the log (Last-Event-ID 0): the three posts are
  // replayed; then a post made while the stream is open arrives live.
  // `parseAs: "stream"` hands over the body as it arrives; the abort bounds
  // the wait and closes the stream at the end. The signal goes to fetch
  // itself: openapi-fetch puts it on a Request, and Node loses the link
  // between a Request's signal and its controller once that Request is
  // garbage-collected (nodejs/node#55428), which would leave the wait
  // unbounded.
  const stop = new AbortController();
  const timer = setTimeout(
    () => stop.abort(new Error("event stream: timed out")),
    STREAM_TIMEOUT_MS,
  );
  try {
    const stream = await user.GET("/api/v2/channels/{channel_id}/events", {
      params: { ...inChannel, header: { "Last-Event-ID": 0 } },
      parseAs: "stream",
      fetch: (request: Request) => fetch(request, { signal: stop.signal }),
    });
    check(stream.response.status === 200, `event stream: status ${stream.response.status}`);
    const contentType = stream.response.headers.get("content-type") ?? "";
    check(contentType.startsWith("text/event-stream"), `event stream: content type ${contentType}`);
    check(stream.data != null, "event stream: no body");
    const events = serverSentEvents(stream.data);
    await awaitMessages(events, channel.id, posted.map((m) => m.id));
    const live = await post("live");
    await awaitMessages(events, channel.id, [live.id]);
  } finally {
    clearTimeout(timer);
    stop.abort();
  }

  // The WebSocket operation is a handshake: as a plain GET it is refused
  // with the 426 its description announces.
  const refused = await user.GET("/api/v2/ws");
  check(refused.response.status === 426, `plain GET of the WebSocket: ${refused.response.status}`);
  check(
    refused.error?.code === "UPGRADE_REQUIRED",
    `plain GET of the WebSocket: ${refused.error?.code}`,
  );

  const renewed = expect(
    await anonymous.POST("/api/v2/auth/refresh", { body: { refresh_token: tokens.refresh_token } }),
    "refresh",
  );
  check(renewed.refresh_token !== tokens.refresh_token, "the refresh token did not rotate");
  const again = expect(
    await as(renewed.access_token).GET("/api/v2/me"),
    "me with the refreshed access token",
  );
  check(again.id === me.id, "the refreshed access token names another user");

  console.log(
    `typescript v2: ${posted.length} messages in ${pages} pages, ` +
      `${posted.length + 1} events, tokens refreshed`,
  );
}

const baseUrl = process.argv[2];
if (baseUrl === undefined) throw new Error("usage: node scenario_v2.js BASE_URL");
await main(baseUrl);
