//! Every operation that requires credentials refuses a call without any, the
//! same way: walked from the generated operation table, so an operation added
//! to the spec is covered without a test of its own.

use super::*;

contract_test!(
    every_secured_operation_refuses_an_anonymous_call,
    |server| {
        let refusals = common::probe::refusals_of_anonymous_calls(
            &server,
            charter::api::V2_YAML,
            charter::api::v2::OPERATIONS,
            // Public, and the WebSocket that may authenticate by its first message.
            &["register", "login", "refreshToken", "connectWebSocket"],
            // Bearer-only and bearer-or-key.
            &[
                "logout",
                "getMe",
                "deleteUser",
                "listChannels",
                "createMessage",
            ],
        )
        .await;
        for (probe, response) in refusals {
            let what = format!("{} {}", probe.operation.method, probe.path);
            assert_eq!(response.status().as_u16(), 401, "{what}");
            assert_eq!(
                header(response.headers(), "www-authenticate"),
                "Bearer realm=\"charter\"",
                "{what}"
            );
            let body = raw_problem(response, 401, "UNAUTHENTICATED").await;
            assert_eq!(body["instance"], probe.path.as_str(), "{what}");
        }
    }
);
