"""Charter v2 through a client that openapi-python-client generated from
/openapi/v2.json (the package `charter_v2_client`).

Usage: python scenario_v2.py BASE_URL

Register, log in, create a channel, post three messages (one of them sent
twice with the same Idempotency-Key), list them two to a page, follow the
channel's event stream, refresh the tokens and call with the new access
token. The first result that differs from the contract ends the run with a
non-zero status.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from uuid import UUID

import httpx

from checks import check, expect
from charter_v2_client import AuthenticatedClient, Client
from charter_v2_client.api.auth import login, refresh_token, register
from charter_v2_client.api.channels import create_channel
from charter_v2_client.api.events import connect_web_socket, stream_channel_events
from charter_v2_client.api.me import get_me
from charter_v2_client.api.messages import create_message, list_messages
from charter_v2_client.models import (
    Channel,
    CreateChannelRequest,
    CreateMessageRequest,
    LoginRequest,
    Me,
    Message,
    MessageCreatedEvent,
    MessagePage,
    Problem,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
)
from charter_v2_client.types import UNSET

# How long the event stream may take to deliver what the scenario waits for.
STREAM_TIMEOUT = 10.0


@dataclass
class ServerSentEvent:
    id: str | None = None
    event: str | None = None
    data_lines: list[str] = field(default_factory=list)


@contextmanager
def channel_events(
    client: AuthenticatedClient, channel_id: UUID, last_event_id: int
) -> Iterator[Iterator[str]]:
    """The channel's event stream, read as the operation's description says:
    incrementally, line by line. The generated `stream_channel_events.sync`
    would read the whole body, which only ends with the channel; its
    `_get_kwargs` builds the same request, which httpx then streams."""
    request = stream_channel_events._get_kwargs(channel_id, last_event_id=last_event_id)
    http = client.get_httpx_client()
    with http.stream(**request, timeout=httpx.Timeout(STREAM_TIMEOUT)) as response:
        check(response.status_code == 200, f"event stream: status {response.status_code}")
        content_type = response.headers.get("content-type", "")
        check(
            content_type.startswith("text/event-stream"),
            f"event stream: content type {content_type!r}",
        )
        yield response.iter_lines()


def parse_events(lines: Iterator[str], deadline: float) -> Iterator[ServerSentEvent]:
    """Server-sent events: `field: value` lines, an empty line ends an event,
    a line starting with `:` is a comment (the keep-alive). The deadline is
    checked on every line, so keep-alives cannot extend the wait."""
    event = ServerSentEvent()
    for line in lines:
        if time.monotonic() > deadline:
            raise TimeoutError
        if line == "":
            if event.data_lines:
                yield event
            event = ServerSentEvent()
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                event.id = value
            elif name == "event":
                event.event = value
            elif name == "data":
                event.data_lines.append(value)


def await_messages(lines: Iterator[str], channel_id: UUID, wanted: set[UUID]) -> None:
    """Reads events until a `message.created` event has arrived for each of
    `wanted`, each one a `MessageCreatedEvent` whose `seq` is its SSE id."""
    missing = set(wanted)
    try:
        for event in parse_events(lines, time.monotonic() + STREAM_TIMEOUT):
            if event.event != "message.created":
                continue
            created = MessageCreatedEvent.from_dict(json.loads("\n".join(event.data_lines)))
            check(created.channel_id == channel_id, f"event of another channel: {created}")
            check(event.id == str(created.seq), f"SSE id {event.id} for seq {created.seq}")
            missing.discard(created.data.id)
            if not missing:
                return
    except (httpx.ReadTimeout, TimeoutError):
        raise SystemExit(f"event stream: after {STREAM_TIMEOUT}s still waiting for {missing}")
    raise SystemExit(f"event stream ended, still waiting for {missing}")


def main(base_url: str) -> None:
    anonymous = Client(base_url=base_url)
    email = f"py-{secrets.token_hex(8)}@example.com"
    password = secrets.token_urlsafe(18)

    me = expect(
        register.sync(
            client=anonymous,
            body=RegisterRequest(email=email, password=password, full_name="Python Scenario"),
        ),
        Me,
        "register",
    )
    check(me.email == email, f"registered as {me.email}, not {email}")

    tokens = expect(
        login.sync(client=anonymous, body=LoginRequest(email=email, password=password)),
        TokenPair,
        "login",
    )
    user = AuthenticatedClient(base_url=base_url, token=tokens.access_token)

    channel = expect(
        create_channel.sync(
            client=user, body=CreateChannelRequest(name=f"py-{secrets.token_hex(6)}")
        ),
        Channel,
        "create channel",
    )
    check(channel.owner_id == me.id, "the channel's owner is not its creator")

    posted: list[Message] = []
    for text in ["first", "second", "third"]:
        key = secrets.token_hex(16)
        message = expect(
            create_message.sync(
                channel.id, client=user, body=CreateMessageRequest(body=text), idempotency_key=key
            ),
            Message,
            f"post {text!r}",
        )
        check(message.body == text, f"posted {text!r}, stored {message.body!r}")
        posted.append(message)
        if text == "first":
            # A retry with the same key and body replays the first answer.
            replay = expect(
                create_message.sync(
                    channel.id,
                    client=user,
                    body=CreateMessageRequest(body=text),
                    idempotency_key=key,
                ),
                Message,
                "retried post",
            )
            check(replay.id == message.id, "a retried post created a second message")

    listed: list[Message] = []
    pages = 0
    cursor: str | None = None
    while True:
        page = expect(
            list_messages.sync(
                channel.id, client=user, limit=2, cursor=UNSET if cursor is None else cursor
            ),
            MessagePage,
            f"page {pages + 1}",
        )
        pages += 1
        check(len(page.items) <= 2, f"page {pages} has {len(page.items)} messages, limit 2")
        listed.extend(page.items)
        if not isinstance(page.next_cursor, str):
            break
        cursor = page.next_cursor
    check(pages == 2, f"three messages two to a page took {pages} pages")
    # Newest first.
    check(
        [m.id for m in listed] == [m.id for m in reversed(posted)],
        f"listed {[m.body for m in listed]}",
    )

    # From the start of the log (Last-Event-ID 0): the three posts are
    # replayed; then a post made while the stream is open arrives live.
    with channel_events(user, channel.id, last_event_id=0) as lines:
        await_messages(lines, channel.id, {m.id for m in posted})
        live = expect(
            create_message.sync(channel.id, client=user, body=CreateMessageRequest(body="live")),
            Message,
            "post while following",
        )
        await_messages(lines, channel.id, {live.id})
    # The generated call itself leaves the body raw: given the opening of a
    # stream it decodes nothing (a schema on the stream would have it parse
    # the body as a ChannelEvent and raise TypeError on `retry: 2000`).
    opening = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, text="retry: 2000\n\n"
    )
    check(
        stream_channel_events._parse_response(client=user, response=opening) is None,
        "the generated stream call decodes the stream's body",
    )

    # The WebSocket operation is a handshake: as a plain GET it is refused
    # with the 426 its description announces.
    refused = connect_web_socket.sync_detailed(client=user)
    check(refused.status_code == 426, f"plain GET of the WebSocket: {refused.status_code}")
    problem = expect(refused.parsed, Problem, "plain GET of the WebSocket")
    check(problem.code == "UPGRADE_REQUIRED", f"plain GET of the WebSocket: {problem.code}")

    renewed = expect(
        refresh_token.sync(
            client=anonymous, body=RefreshRequest(refresh_token=tokens.refresh_token)
        ),
        TokenPair,
        "refresh",
    )
    check(renewed.refresh_token != tokens.refresh_token, "the refresh token did not rotate")
    again = expect(
        get_me.sync(client=AuthenticatedClient(base_url=base_url, token=renewed.access_token)),
        Me,
        "me with the refreshed access token",
    )
    check(again.id == me.id, "the refreshed access token names another user")

    print(
        f"python v2: {len(posted)} messages in {pages} pages, {len(posted) + 1} events, "
        "tokens refreshed"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: scenario_v2.py BASE_URL")
    main(sys.argv[1])
