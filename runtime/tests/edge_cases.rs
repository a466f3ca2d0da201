//! The generator's edge-case specs compile against this crate alone, and the
//! generated routers behave as the specs say: every parameter location,
//! style and shape (arrays, objects, JSON), defaults, optional bodies and
//! authentication, several success codes, composition and nullable fields.
//!
//! The code under test is the generator's golden output for those specs,
//! which `codegen/tests/golden.rs` keeps byte-for-byte equal to what the
//! generator writes today: no build script and no Charter in between.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use charter_runtime::{Authenticator, Credential, Problem, RequestContext};
use tower::ServiceExt;

#[allow(clippy::all, dead_code, unused_imports)]
mod edge_parameters {
    include!("../../codegen/tests/golden/edge_parameters.rs");
}

#[allow(clippy::all, dead_code, unused_imports)]
mod edge_schemas {
    include!("../../codegen/tests/golden/edge_schemas.rs");
}

#[allow(clippy::all, dead_code, unused_imports)]
mod edge_bodies {
    include!("../../codegen/tests/golden/edge_bodies.rs");
}

#[allow(clippy::all, dead_code, unused_imports)]
mod edge_mock {
    include!("../../codegen/tests/golden/edge_mock.rs");
}

/// `edge_mock`'s generated mock driven.
#[path = "edge_cases/mock.rs"]
mod mock;

/// `edge_bodies` implemented and driven: every media type, both ways.
#[path = "edge_cases/bodies.rs"]
mod bodies;

/// `edge_naming` implemented and driven: names that are not identifiers,
/// operations without `operationId`, features skipped with a warning.
#[path = "edge_cases/naming.rs"]
mod naming;

#[derive(Clone)]
struct Fake;

/// What `admit_request` hands `admit_principal`: whether it saw a
/// credential the router would authenticate.
#[derive(Clone)]
struct SawCredential(bool);

impl Authenticator for Fake {
    type Principal = String;

    async fn admit_request(
        &self,
        ctx: &RequestContext,
        parts: &axum::http::request::Parts,
    ) -> Result<(), Problem> {
        let seen = charter_runtime::credential_in(ctx, &parts.headers).is_some();
        ctx.set_extension(SawCredential(seen));
        let value = if seen { "credential" } else { "none" };
        ctx.add_response_header(
            axum::http::HeaderName::from_static("x-admitted"),
            axum::http::HeaderValue::from_static(value),
        );
        Ok(())
    }

    async fn admit_principal(
        &self,
        ctx: &RequestContext,
        principal: &String,
    ) -> Result<(), Problem> {
        let handed = ctx.take_extension::<SawCredential>().is_some_and(|s| s.0);
        if principal == "limited-user" {
            return Err(Problem::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"));
        }
        ctx.add_response_header(
            axum::http::HeaderName::from_static("x-admitted-principal"),
            axum::http::HeaderValue::from_static(if handed { "after-credential" } else { "lost" }),
        );
        Ok(())
    }

    async fn authenticate(
        &self,
        _ctx: &RequestContext,
        credential: Credential<'_>,
    ) -> Result<String, Problem> {
        match credential {
            Credential::Bearer { token: "good", .. } => Ok("bearer-user".to_owned()),
            Credential::ApiKey { key: "key", scheme } => Ok(format!("{scheme}-user")),
            Credential::Bearer {
                token: "limited", ..
            } => Ok("limited-user".to_owned()),
            _ => Err(Problem::unauthorized("bad credential")),
        }
    }
}

impl edge_parameters::Api for Fake {
    async fn get_part(
        &self,
        _ctx: &RequestContext,
        auth: String,
        path: edge_parameters::GetPartPath,
        query: edge_parameters::GetPartQuery,
        headers: edge_parameters::GetPartHeaders,
    ) -> Result<edge_parameters::GetPartResponse, Problem> {
        use edge_parameters::{GetPartOkBody, GetPartResponse};
        let etag = format!("\"{}-{}-{}\"", path.item_id, path.part, query.page);
        if headers.if_none_match.as_deref() == Some(etag.as_str()) {
            return Ok(GetPartResponse::NotModified { etag });
        }
        Ok(GetPartResponse::Ok {
            body: GetPartOkBody {
                item_id: path.item_id,
                part: format!("{}:{auth}:{}", path.part, query.ratio),
                verbose: Some(query.verbose),
            },
            etag,
            x_cache: Some(headers.x_trace.to_string()),
        })
    }

    async fn put_part(
        &self,
        _ctx: &RequestContext,
        auth: Option<String>,
        _path: edge_parameters::PutPartPath,
        body: Option<edge_parameters::PutPartBody>,
    ) -> Result<edge_parameters::PutPartResponse, Problem> {
        use edge_parameters::PutPartResponse;
        Ok(match (auth, body) {
            (_, None) => PutPartResponse::NoContent,
            (None, Some(body)) => PutPartResponse::Accepted {
                body: vec![body.label.unwrap_or_default()],
            },
            (Some(user), Some(body)) => PutPartResponse::Created {
                body: vec![user, body.label.unwrap_or_default()],
            },
        })
    }

    async fn stream_item_events(
        &self,
        _ctx: &RequestContext,
        _auth: String,
        path: edge_parameters::StreamItemEventsPath,
        headers: edge_parameters::StreamItemEventsHeaders,
    ) -> Result<edge_parameters::StreamItemEventsResponse, Problem> {
        let after: u64 = headers
            .last_event_id
            .as_deref()
            .map_or(0, |id| id.parse().unwrap_or(0));
        let events = (after + 1..=3).map(move |seq| charter_runtime::SseEvent {
            id: Some(seq.to_string()),
            event: Some("item".to_owned()),
            data: format!("{{\"kind\":\"changed\",\"item\":{}}}", path.item_id),
        });
        Ok(edge_parameters::StreamItemEventsResponse::Ok {
            body: charter_runtime::EventStream::new(futures::stream::iter(events))
                .retry(std::time::Duration::from_secs(3)),
        })
    }

    async fn ping(&self, _ctx: &RequestContext) -> Result<edge_parameters::PingResponse, Problem> {
        Ok(edge_parameters::PingResponse::NoContent)
    }

    async fn list_pets(
        &self,
        _ctx: &RequestContext,
        query: edge_parameters::ListPetsQuery,
    ) -> Result<edge_parameters::ListPetsResponse, Problem> {
        let edge_parameters::ListPetsQuery {
            tags,
            ids,
            sizes,
            weights,
            days,
            paths,
        } = query;
        Ok(edge_parameters::ListPetsResponse::Ok {
            body: echo(serde_json::json!({
                "tags": tags, "ids": ids, "sizes": sizes,
                "weights": weights, "days": days, "paths": paths,
            })),
        })
    }

    async fn search_pets(
        &self,
        _ctx: &RequestContext,
        query: edge_parameters::SearchPetsQuery,
    ) -> Result<edge_parameters::SearchPetsResponse, Problem> {
        let edge_parameters::SearchPetsQuery {
            filter,
            page,
            color,
            r#where,
            q,
            text,
        } = query;
        Ok(edge_parameters::SearchPetsResponse::Ok {
            body: echo(serde_json::json!({
                "filter": filter, "page": page, "color": color,
                "where": r#where, "q": q, "text": text,
            })),
        })
    }

    async fn list_labels(
        &self,
        _ctx: &RequestContext,
        query: edge_parameters::ListLabelsQuery,
        headers: edge_parameters::ListLabelsHeaders,
    ) -> Result<edge_parameters::ListLabelsResponse, Problem> {
        Ok(edge_parameters::ListLabelsResponse::Ok {
            body: echo(serde_json::json!({
                "tag": query.tag, "meta": query.meta, "labels": headers.x_labels,
            })),
        })
    }

    async fn get_batch(
        &self,
        _ctx: &RequestContext,
        path: edge_parameters::GetBatchPath,
        headers: edge_parameters::GetBatchHeaders,
    ) -> Result<edge_parameters::GetBatchResponse, Problem> {
        let edge_parameters::GetBatchPath {
            ids,
            tags,
            point,
            version,
        } = path;
        let edge_parameters::GetBatchHeaders {
            x_flags,
            x_size,
            x_meta,
        } = headers;
        Ok(edge_parameters::GetBatchResponse::Ok {
            body: echo(serde_json::json!({
                "ids": ids, "tags": tags, "point": point, "version": version,
                "flags": x_flags, "size": x_size, "meta": x_meta,
            })),
        })
    }
}

/// What an operation received, as the JSON object it answers with.
fn echo(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

impl edge_schemas::Api for Fake {
    async fn create_shape(
        &self,
        _ctx: &RequestContext,
        body: edge_schemas::ShapeRequest,
    ) -> Result<edge_schemas::CreateShapeResponse, Problem> {
        Ok(edge_schemas::CreateShapeResponse::Created {
            body: edge_schemas::ShapeEnvelope {
                shape: body,
                created: chrono::DateTime::UNIX_EPOCH,
                labels: Default::default(),
                parent: None,
                metadata: None,
            },
        })
    }
}

async fn call(
    router: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

fn get(uri: &str) -> axum::http::request::Builder {
    Request::builder().method("GET").uri(uri)
}

const TRACE: &str = "6f1e3a4c-8d2b-4e6f-9a1c-2b3d4e5f6a7b";

#[tokio::test]
async fn every_parameter_location_is_extracted_typed_and_defaulted() {
    let router = edge_parameters::router(Fake);
    let (status, headers, body) = call(
        &router,
        get("/items/7/parts/bolt?ratio=0.5")
            .header("authorization", "Bearer good")
            .header("x-trace", TRACE)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["item_id"], 7);
    assert_eq!(body["part"], "bolt:bearer-user:0.5");
    assert_eq!(body["verbose"], false, "query default applied");
    assert_eq!(headers["etag"], "\"7-bolt-1\"");
    assert_eq!(headers["x-cache"], TRACE);

    let (status, headers, _) = call(
        &router,
        get("/items/7/parts/bolt?ratio=0.5")
            .header("authorization", "Bearer good")
            .header("x-trace", TRACE)
            .header("if-none-match", "\"7-bolt-1\"")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(headers["etag"], "\"7-bolt-1\"");
}

#[tokio::test]
async fn parameter_violations_are_all_reported_per_location() {
    let router = edge_parameters::router(Fake);
    let (status, headers, body) = call(
        &router,
        get("/items/0/parts/toolongpart?ratio=2&verbose=yes&page=x")
            .header("authorization", "Bearer good")
            .header("x-trace", "not-a-uuid")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        violations(&body),
        [
            "header #/X-Trace",
            "path #/item_id",
            "path #/part",
            "query #/page",
            "query #/ratio",
            "query #/verbose",
        ]
    );

    let (status, _, body) = call(
        &router,
        get("/items/1/parts/a")
            .header("authorization", "Bearer good")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let pointers: Vec<_> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["pointer"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        pointers,
        ["#/ratio", "#/X-Trace"],
        "missing required parameters"
    );
}

#[tokio::test]
async fn security_requirements_are_enforced_as_declared() {
    let router = edge_parameters::router(Fake);
    // Root-level security applies: no credential is 401 with a challenge.
    let (status, headers, body) = call(
        &router,
        get("/items/1/parts/a?ratio=0")
            .header("x-trace", TRACE)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(body["code"], "UNAUTHENTICATED");
    // A rejected credential is the authenticator's problem.
    let (status, _, _) = call(
        &router,
        get("/items/1/parts/a?ratio=0")
            .header("authorization", "Bearer bad")
            .header("x-trace", TRACE)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // `security: []` overrides the root requirement.
    let (status, _, _) = call(&router, get("/ping").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

fn put(uri: &str) -> axum::http::request::Builder {
    Request::builder().method("PUT").uri(uri)
}

#[tokio::test]
async fn optional_bodies_optional_auth_and_several_success_codes() {
    let router = edge_parameters::router(Fake);
    let (status, _, _) = call(
        &router,
        put("/items/1/parts/a")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "no body is allowed");
    let (status, _, body) = call(
        &router,
        put("/items/1/parts/a")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"label":"x"}"#))
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, serde_json::json!(["x"]))
    );
    let (status, _, body) = call(
        &router,
        put("/items/1/parts/a")
            .header("content-type", "application/json")
            .header("x-api-key", "key")
            .body(Body::from(r#"{"label":"y"}"#))
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::CREATED,
            serde_json::json!(["apiKeyAuth-user", "y"])
        )
    );
    let (status, _, body) = call(
        &router,
        put("/items/1/parts/a")
            .header("content-type", "text/plain")
            .body(Body::from("label"))
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let put_part = &edge_parameters::OPERATIONS[1];
    assert_eq!(
        put_part.extensions,
        [("x-rate-limit", "\"write\"")],
        "vendor extensions reach the operation table"
    );
    assert_eq!(put_part.rate_limit, "write");
    assert_eq!(edge_parameters::OPERATIONS[0].rate_limit, "default");
}

#[tokio::test]
async fn admission_hooks_run_in_order_and_hand_each_other_what_they_learnt() {
    let router = edge_parameters::router(Fake);
    let part = |token: Option<&str>| {
        let request = get("/items/1/parts/a?ratio=0").header("x-trace", TRACE);
        match token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        }
        .body(Body::empty())
        .expect("request")
    };
    let (status, headers, _) = call(&router, part(Some("good"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-admitted"], "credential");
    assert_eq!(headers["x-admitted-principal"], "after-credential");

    // No credential: admitted, then refused; no principal to admit.
    let (status, headers, _) = call(&router, part(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["x-admitted"], "none");
    assert!(headers.get("x-admitted-principal").is_none());

    // A credential of a scheme the operation does not take is not one.
    let (status, headers, _) = call(
        &router,
        get("/items/1/parts/a?ratio=0")
            .header("x-trace", TRACE)
            .header("x-api-key", "key")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["x-admitted"], "none");

    // A principal refused by its admission never reaches the operation.
    let (status, headers, _) = call(&router, part(Some("limited"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["x-admitted"], "credential");

    // Optional authentication without a credential: no principal hook.
    let (status, headers, _) = call(
        &router,
        put("/items/1/parts/a")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers["x-admitted"], "none");
    assert!(headers.get("x-admitted-principal").is_none());
}

#[tokio::test]
async fn each_router_reads_bodies_up_to_its_own_limit() {
    use charter_runtime::BodyLimit;
    // Two routers in one process, as two servers or two tests would have.
    let small = edge_parameters::router(Fake).layer(BodyLimit(64).layer());
    let large = edge_parameters::router(Fake).layer(BodyLimit(4096).layer());
    let unlimited = edge_parameters::router(Fake);
    let body = format!(r#"{{"label":"{}"}}"#, "x".repeat(200));
    let send = |router: axum::Router, body: String| async move {
        call(
            &router,
            put("/items/1/parts/a")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
        .0
    };
    assert_eq!(
        send(small.clone(), body.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        send(large.clone(), body.clone()).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        send(small, r#"{"label":"x"}"#.to_owned()).await,
        StatusCode::ACCEPTED,
        "a body within the small limit is read"
    );
    let over_default = format!(
        r#"{{"label":"{}"}}"#,
        "x".repeat(charter_runtime::BODY_LIMIT)
    );
    assert_eq!(
        send(unlimited, over_default.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "without a layer the default limit holds"
    );
    assert_eq!(
        send(large, over_default).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn composed_schemas_validate_and_round_trip() {
    let router = edge_schemas::router(Fake);
    let post = |body: &'static str| {
        Request::builder()
            .method("POST")
            .uri("/shapes")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("request")
    };
    let (status, _, body) = call(
        &router,
        post(r#"{"name":"disc","shape":{"kind":"circle","radius":2.5},"note":null,"tags":["a"]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["shape"]["layer"], "middle", "enum default");
    assert_eq!(body["shape"]["opacity"], 1.0, "number default");
    assert_eq!(
        body["shape"]["note"],
        serde_json::Value::Null,
        "explicit null kept"
    );
    assert_eq!(body["shape"]["shape"]["radius"], 2.5);
    assert_eq!(
        body["parent"],
        serde_json::Value::Null,
        "nullable required field"
    );

    let (status, _, body) = call(
        &router,
        post(r#"{"name":"Disc!","shape":{"kind":"square","side":0},"tags":["a","a"],"color":"pink","opacity":2}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let pointers: Vec<_> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["pointer"].as_str().unwrap_or_default().to_owned())
        .collect();
    for expected in ["#/name", "#/shape", "#/tags", "#/color", "#/opacity"] {
        assert!(
            pointers.iter().any(|p| p == expected),
            "{expected} missing from {pointers:?}"
        );
    }
}

#[test]
fn edge_case_schemas_compile() {
    edge_parameters::check_schemas().expect("edge_parameters schemas compile");
    edge_schemas::check_schemas().expect("edge_schemas schemas compile");
}

#[tokio::test]
async fn middleware_sees_the_operation_of_a_routed_request() {
    async fn label(
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        let operation = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .and_then(|route| {
                charter_runtime::find_operation(
                    &[edge_parameters::OPERATIONS],
                    request.method(),
                    route.as_str(),
                )
            })
            .map(|op| op.operation_id);
        let mut response = next.run(request).await;
        if let Some(id) = operation {
            response
                .headers_mut()
                .insert("x-operation", axum::http::HeaderValue::from_static(id));
        }
        response
    }
    let router = edge_parameters::router(Fake).layer(axum::middleware::from_fn(label));
    let (_, headers, _) = call(&router, get("/ping").body(Body::empty()).expect("request")).await;
    assert_eq!(headers["x-operation"], "ping");
    let (_, headers, _) = call(
        &router,
        put("/items/1/parts/a")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(headers["x-operation"], "putPart");
    let info = &edge_parameters::OPERATIONS[0];
    assert_eq!(
        (info.operation_id, info.method, info.route, info.security),
        (
            "getPart",
            "GET",
            "/items/{item_id}/parts/{part}",
            &[&["bearerAuth"][..]][..]
        )
    );
}

#[tokio::test]
async fn event_streams_are_served_as_server_sent_events() {
    let router = edge_parameters::router(Fake);
    let response = router
        .clone()
        .oneshot(
            get("/items/9/events")
                .header("authorization", "Bearer good")
                .header("last-event-id", "1")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&body);
    // Events are blank-line separated blocks of `field: value` lines.
    let events: Vec<Vec<&str>> = text
        .split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let mut lines: Vec<&str> = block.lines().collect();
            lines.sort();
            lines
        })
        .collect();
    assert_eq!(
        events,
        [
            vec!["retry: 3000"],
            vec![
                "data: {\"kind\":\"changed\",\"item\":9}",
                "event: item",
                "id: 2"
            ],
            vec![
                "data: {\"kind\":\"changed\",\"item\":9}",
                "event: item",
                "id: 3"
            ],
        ],
        "resumes after Last-Event-ID"
    );
    // The Last-Event-ID header is a validated parameter like any other.
    let (status, _, body) = call(
        &router,
        get("/items/9/events")
            .header("authorization", "Bearer good")
            .header("last-event-id", "x")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["pointer"], "#/Last-Event-ID");
}

#[tokio::test]
async fn path_parameters_are_percent_decoded() {
    let router = edge_parameters::router(Fake);
    let request = |path: &str| {
        get(path)
            .header("authorization", "Bearer good")
            .header("x-trace", TRACE)
            .body(Body::empty())
            .expect("request")
    };
    let (status, _, body) = call(&router, request("/items/7/parts/b%C3%A9?ratio=1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["part"], "bé:bearer-user:1");
    let (status, _, body) = call(&router, request("/items/7/parts/%FF?ratio=1")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["pointer"], "#/part");
    // A router nested under a prefix reads its parameters the same way.
    let nested = axum::Router::new().nest("/v9", edge_parameters::router(Fake));
    let (status, _, body) = call(&nested, request("/v9/items/8/parts/nut?ratio=0")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["item_id"].as_i64(), body["part"].as_str()),
        (Some(8), Some("nut:bearer-user:0"))
    );
}

/// The location and pointer of every violation a problem lists
/// (`query #/tags/1`), sorted.
fn violations(problem: &serde_json::Value) -> Vec<String> {
    let mut found: Vec<String> = problem["errors"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["location"].as_str().unwrap_or_default(),
                e["pointer"].as_str().unwrap_or_default()
            )
        })
        .collect();
    found.sort();
    found
}

/// The detail of the violation at `pointer`.
fn detail<'a>(problem: &'a serde_json::Value, pointer: &str) -> &'a str {
    problem["errors"]
        .as_array()
        .and_then(|errors| errors.iter().find(|e| e["pointer"] == pointer))
        .and_then(|e| e["detail"].as_str())
        .unwrap_or_default()
}

/// A public GET of the edge-parameters router.
async fn fetch(uri: &str) -> (StatusCode, serde_json::Value) {
    fetch_with(uri, &[]).await
}

async fn fetch_with(uri: &str, headers: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let mut request = get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (status, _, body) = call(
        &edge_parameters::router(Fake),
        request.body(Body::empty()).expect("request"),
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn query_arrays_reach_the_handler_typed_in_every_style() {
    let (status, body) =
        fetch("/pets?tags=a&tags=b&ids=1,2,3&sizes=s%20m+l&weights=1.5|2&paths=/a&paths=b").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "tags": ["a", "b"], "ids": [1, 2, 3], "sizes": ["s", "m", "l"],
            "weights": [1.5, 2.0], "days": ["mon", "tue"], "paths": ["/a", "b"],
        })
    );
    // A pipe may come percent-encoded; an exploded array's default gives
    // way to the values sent.
    let (status, body) = fetch("/pets?weights=0.5%7C3&days=wed&days=mon").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["weights"], serde_json::json!([0.5, 3.0]));
    assert_eq!(body["days"], serde_json::json!(["wed", "mon"]));
    // Absent arrays are `None`; the default applies.
    let (status, body) = fetch("/pets").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "tags": null, "ids": null, "sizes": null,
            "weights": null, "days": ["mon", "tue"], "paths": null,
        })
    );
}

#[tokio::test]
async fn query_array_violations_point_at_each_item() {
    let (status, body) = fetch(
        "/pets?tags=a&tags=B&tags=a&tags=toolongvalue&ids=1,0,x,99999999999&sizes=s%20xl&weights=0|-1|2",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        violations(&body),
        [
            "query #/ids/1",
            "query #/ids/2",
            "query #/ids/3",
            "query #/sizes/1",
            "query #/tags",
            "query #/tags/1",
            "query #/tags/2",
            "query #/tags/3",
            "query #/weights/0",
            "query #/weights/1",
        ]
    );
    assert_eq!(detail(&body, "#/tags"), "must have at most 3 items");
    assert_eq!(detail(&body, "#/tags/1"), "must match the pattern ^[a-z]+$");
    assert_eq!(
        detail(&body, "#/tags/2"),
        "repeats item 0 (items must be unique)"
    );
    assert_eq!(detail(&body, "#/ids/1"), "must be at least 1");
    assert_eq!(detail(&body, "#/ids/2"), "must be an integer in range");
    assert_eq!(
        detail(&body, "#/ids/3"),
        "must be an integer in range",
        "beyond int32"
    );
    assert_eq!(detail(&body, "#/sizes/1"), "must be one of: s, m, l");
    assert_eq!(detail(&body, "#/weights/0"), "must be greater than 0");
}

#[tokio::test]
async fn empty_and_repeated_query_arrays() {
    // `ids=` is how an unexploded empty list is sent.
    let (status, body) = fetch("/pets?ids=&sizes=").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["ids"], &body["sizes"]),
        (&serde_json::json!([]), &serde_json::json!([]))
    );
    // An exploded `tags=` is one empty item, which the pattern refuses,
    // and an empty list falls short of `minItems`... which it cannot
    // reach, since an exploded empty list is no key at all.
    let (status, body) = fetch("/pets?tags=").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(violations(&body), ["query #/tags/0"]);
    // An unexploded list is one value: given twice it is ambiguous.
    let (status, body) = fetch("/pets?ids=1&ids=2").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(detail(&body, "#/ids"), "must be given at most once");
    // The repeated keys of an exploded list are its items.
    let (status, body) = fetch("/pets?paths=a&paths=a&paths=").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["paths"], serde_json::json!(["a", "a", ""]));
}

#[tokio::test]
async fn query_values_are_decoded_once_and_reserved_characters_kept_where_allowed() {
    // Form decoding: `+` is a space and `%2B` a plus sign.
    let (status, body) = fetch("/pets/search?filter[status]=sold&text=a+b%2Bc").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["text"], "a b+c");
    // `allowReserved`: clients send reserved characters as they are, so a
    // `+` is a plus sign, and escapes are decoded exactly once.
    let (status, body) = fetch("/pets/search?filter[status]=sold&q=a+b/c?d=%2525").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["q"], "a+b/c?d=%25");
    let (status, body) = fetch("/pets?paths=/x+y&paths=%2F%7Bz%7D").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["paths"], serde_json::json!(["/x+y", "/{z}"]));
    // An escaped delimiter belongs to its item.
    let (status, body) = fetch("/pets?ids=1%2C2").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(detail(&body, "#/ids/0"), "must be an integer in range");
    // Escapes that are not UTF-8 are refused, not replaced.
    let (status, body) = fetch("/pets/search?filter[status]=sold&text=%FF").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(detail(&body, "#/text"), "must be percent-encoded UTF-8");
}

#[tokio::test]
async fn query_objects_reach_the_handler_typed() {
    let (status, body) = fetch(concat!(
        "/pets/search?filter[status]=sold&filter%5BminAge%5D=2",
        "&limit=5&cursor=x&color=r,100,g,200",
        "&where=%7B%22name%22%3A%22rex%22%2C%22aliases%22%3A%5B%22t%22%5D%7D",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "filter": {"status": "sold", "minAge": 2},
            "page": {"limit": 5, "cursor": "x"},
            "color": {"r": 100, "g": 200},
            "where": {"name": "rex", "aliases": ["t"]},
            "q": null, "text": null,
        })
    );
    // An exploded form object is present when one of its properties is;
    // the model's defaults fill in the rest.
    let (status, body) = fetch("/pets/search?filter[status]=sold&cursor=y&color=").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["page"],
        serde_json::json!({"limit": 20, "cursor": "y"})
    );
    assert_eq!(body["color"], serde_json::json!({}));
    assert_eq!(body["filter"], serde_json::json!({"status": "sold"}));
    let (status, body) = fetch("/pets/search?filter[status]=available").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["page"], &body["color"], &body["where"]),
        (
            &serde_json::Value::Null,
            &serde_json::Value::Null,
            &serde_json::Value::Null
        )
    );
}

#[tokio::test]
async fn query_object_violations_point_into_the_object() {
    let (status, body) = fetch(concat!(
        "/pets/search?filter[minAge]=-1&filter[colour]=x",
        "&limit=0&color=r,300,g",
        "&where=%7B%22aliases%22%3A%5B%22a%22%2C%22b%22%2C%22c%22%5D%7D",
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        violations(&body),
        [
            "query #/color",
            "query #/filter/colour",
            "query #/filter/minAge",
            "query #/filter/status",
            "query #/page/limit",
            "query #/where/aliases",
            "query #/where/name",
        ]
    );
    assert_eq!(detail(&body, "#/filter/colour"), "is not a known field");
    assert_eq!(detail(&body, "#/filter/status"), "is required");
    assert_eq!(
        detail(&body, "#/color"),
        "must list names and values in pairs"
    );

    // A required object absent, a property given twice, a value that is
    // no JSON document, a property out of range in a packed object.
    let (status, body) = fetch("/pets/search?color=r,300&where=rex").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        violations(&body),
        ["query #/color/r", "query #/filter", "query #/where"]
    );
    assert_eq!(detail(&body, "#/filter"), "is required");
    assert!(
        detail(&body, "#/where").starts_with("must be a JSON document"),
        "{body}"
    );
    let (status, body) =
        fetch("/pets/search?filter[status]=sold&filter[status]=available&color=r,1,r,2").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        violations(&body),
        ["query #/color/r", "query #/filter/status"]
    );
    assert_eq!(
        detail(&body, "#/filter/status"),
        "must be given at most once"
    );
}

#[tokio::test]
async fn path_and_header_arrays_and_objects_reach_the_handler_typed() {
    let (status, body) = fetch_with(
        "/batches/1,2,3/.a%2Cb,c/;x=1;y=-2/.3",
        &[
            ("x-flags", "fast, safe"),
            ("x-flags", "loud"),
            ("x-size", "w=3, h=4"),
            ("x-meta", r#"{"trace":true}"#),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "ids": [1, 2, 3], "tags": ["a,b", "c"], "point": {"x": 1, "y": -2},
            "version": 3, "flags": ["fast", "safe", "loud"],
            "size": {"w": 3, "h": 4}, "meta": {"trace": true},
        })
    );
    // An empty label list; empty elements of a list header are ignored,
    // as RFC 9110 asks.
    let (status, body) = fetch_with("/batches/7/./;x=0;y=0/.1", &[("x-flags", " , ")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["tags"], &body["flags"], &body["size"]),
        (
            &serde_json::json!([]),
            &serde_json::json!([]),
            &serde_json::Value::Null
        )
    );
}

#[tokio::test]
async fn path_and_header_violations_are_reported_with_their_location() {
    let (status, body) = fetch_with(
        "/batches/0,x/a,b/;x=1/3",
        &[
            ("x-flags", "fast, slow"),
            ("x-size", "w=0"),
            ("x-meta", r#"{"trace":"yes"}"#),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        violations(&body),
        [
            "header #/X-Flags/1",
            "header #/X-Meta/trace",
            "header #/X-Size/w",
            "path #/ids/0",
            "path #/ids/1",
            "path #/point/y",
            "path #/tags",
            "path #/version",
        ]
    );
    assert_eq!(detail(&body, "#/tags"), "must start with `.` (label style)");
    assert_eq!(detail(&body, "#/point/y"), "is required");
    // A matrix value names its parameter's properties; an exploded object
    // header lists `name=value` pairs.
    let (status, body) = fetch_with("/batches/1/.a/x=1;y=2/.1", &[("x-size", "w,3")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(violations(&body), ["header #/X-Size", "path #/point"]);
    assert_eq!(detail(&body, "#/X-Size"), "must list `name=value` pairs");
}

#[tokio::test]
async fn maps_take_any_key_and_check_every_value() {
    let labels = [("x-labels", "a,true,b,false")];
    let (status, body) = fetch_with(
        "/labels?tag[color]=3&tag%5Bsize%5D=10&meta=a,x,b%2Cc,y&other=1",
        &labels,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tag"], serde_json::json!({"color": 3, "size": 10}));
    assert_eq!(body["meta"], serde_json::json!({"a": "x", "b,c": "y"}));
    assert_eq!(body["labels"], serde_json::json!({"a": true, "b": false}));

    // Absent maps are absent, not empty.
    let (status, body) = fetch_with("/labels", &labels).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tag"], serde_json::Value::Null);

    // Every value is checked, each violation at its key.
    let (status, body) = fetch_with(
        "/labels?tag[color]=11&tag[size]=big&tag[size]=2&meta=a,long",
        &[("x-labels", "a,maybe")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        violations(&body),
        [
            "header #/X-Labels/a",
            "query #/meta/a",
            "query #/tag/color",
            "query #/tag/size",
        ]
    );
    assert_eq!(detail(&body, "#/tag/size"), "must be given at most once");
    let (status, body) = fetch("/labels").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(violations(&body), ["header #/X-Labels"]);
}
