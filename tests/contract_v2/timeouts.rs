//! The client's timeouts against the server: a read timeout shorter than
//! the server's silence cuts the request; the defaults outlast an event
//! stream's keep-alive.

use std::time::Duration;

use charter_client::Timeouts;
use charter_client::live::ChannelEvents;

use super::*;

contract_test!(
    client_read_timeouts_cut_silence_and_defaults_outlast_keep_alives,
    config = |config| config.live.sse_keep_alive = Duration::from_millis(300),
    |server| {
        let alice = server.user("Alice").await;
        let quiet = channel(&alice, "quiet", public()).await;
        let credentials = Credentials::Bearer(alice.access_token.clone());

        // 100 ms between reads is less than the 300 ms keep-alive: cut.
        let impatient = charter_client::v2_client_with(
            &server.base,
            &credentials,
            Timeouts {
                connect: Duration::from_secs(5),
                read: Duration::from_millis(100),
            },
        )
        .expect("client");
        let stream = impatient
            .stream_channel_events()
            .channel_id(quiet.id)
            .send()
            .await
            .expect("the stream opens");
        let mut body = stream.into_inner();
        let cut = tokio::time::timeout(Duration::from_secs(5), async {
            use futures::StreamExt;
            loop {
                match body.next().await {
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => return Some(error),
                    None => return None,
                }
            }
        })
        .await
        .expect("cut within the timeout");
        assert!(cut.is_some(), "the silent stream ends in an error");

        // The defaults: a quiet stream stays open across keep-alives.
        let patient = charter_client::v2_client(&server.base, &credentials).expect("client");
        let mut events = ChannelEvents::connect(&patient, quiet.id, None)
            .await
            .expect("SSE");
        let waited = tokio::time::timeout(Duration::from_secs(1), events.next()).await;
        assert!(
            waited.is_err(),
            "still open after three keep-alives: {waited:?}"
        );
    }
);
