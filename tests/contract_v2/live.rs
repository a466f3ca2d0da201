//! Live events: the calls that open them (the typed readers on top of them
//! are in tests/live.rs).

use super::*;

contract_test!(stream_channel_events, |server| {
    let alice = server.user("Alice").await;
    let room = channel(&alice, "room", public()).await.id;
    let response = alice
        .client
        .stream_channel_events()
        .channel_id(room)
        .last_event_id(0)
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-type"),
        "text/event-stream"
    );
    post(&alice, room, "hello").await;
    let mut body = response.into_inner().into_inner();
    let mut text = String::new();
    common::read_until(&mut body, &mut text, |text| {
        text.contains("event: message.created")
    })
    .await;
    // Last-Event-ID 0 replays the whole log, from its first event.
    assert!(text.contains("\nid: 1\n"), "{text}");

    let bob = server.user("Bob").await;
    let secret = channel(&alice, "secret", private()).await.id;
    // A byte stream has no Debug: compare the problems only.
    let refused =
        |result: Result<ResponseValue<charter_client::ByteStream>, Error<types::Problem>>| {
            match result {
                Err(Error::ErrorResponse(problem)) => (problem.status, problem.code.to_string()),
                Err(other) => panic!("expected a problem, got {other}"),
                Ok(_) => panic!("expected a problem, got a stream"),
            }
        };
    assert_eq!(
        refused(
            bob.client
                .stream_channel_events()
                .channel_id(secret)
                .send()
                .await
        ),
        (404, "NOT_FOUND".to_owned())
    );
});

contract_test!(connect_web_socket, |server| {
    let alice = server.user("Alice").await;
    let upgraded = server
        .anonymous()
        .connect_web_socket()
        .sec_web_socket_protocol(format!("charter.v2, charter.bearer.{}", alice.access_token))
        .send()
        .await
        .expect("upgrade");
    assert_eq!(upgraded.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        header(upgraded.headers(), "sec-websocket-protocol"),
        "charter.v2",
        "the token is never echoed"
    );
    let refused = server
        .anonymous()
        .connect_web_socket()
        .sec_web_socket_protocol("charter.v2, charter.bearer.forged".to_owned())
        .send()
        .await;
    match refused {
        Err(Error::ErrorResponse(problem)) => {
            assert_eq!(
                (problem.status, problem.code.as_str()),
                (401, "UNAUTHENTICATED")
            );
        }
        other => panic!("expected 401, got {other:?}"),
    }
});
