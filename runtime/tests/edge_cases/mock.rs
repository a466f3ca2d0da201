//! The generated mock of `edge_mock` (`Settings::with_mock`) answers every
//! operation as documented: the first success with a body made up from its
//! schema (formats, enums, bounds, required properties, a discriminator),
//! required headers present, of several media types the one `Accept`
//! prefers (the first without one), a range as bytes; `default` as 200; an operation documenting only errors with its
//! first, as a problem. Requests are still validated before it is called.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use super::edge_mock::{self as spec, Mock};
use super::{Fake, call, get};

fn router() -> axum::Router {
    spec::router(Mock(Fake))
}

#[tokio::test]
async fn json_bodies_are_made_up_from_their_schemas() {
    let router = router();
    let (status, headers, body) =
        call(&router, get("/items").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-total"], "");
    assert!(headers.get("x-next").is_none());
    let item = json!({
        "id": "00000000-0000-0000-0000-000000000000",
        "name": "sampless",
        "kind": "tool",
        "created": "2000-01-01T00:00:00Z",
        "tags": ["sample", "sample"],
        "size": 10,
    });
    assert_eq!(body, json!([item.clone()]));

    let created = Request::post("/items")
        .header("content-type", "application/json")
        .body(Body::from(item.to_string()))
        .expect("request");
    let (status, _, body) = call(&router, created).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, item);

    let (status, _, body) = call(
        &router,
        get("/shapes/latest").body(Body::empty()).expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"kind": "round", "radius": 1.0}));
}

#[tokio::test]
async fn requests_are_validated_before_the_mock_answers() {
    let router = router();
    let invalid = Request::post("/items")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"name": "short"}"#))
        .expect("request");
    let (status, _, body) = call(&router, invalid).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "VALIDATION_FAILED");
    let (status, _, _) = call(
        &router,
        Request::delete("/items/0")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "itemId has minimum 1"
    );
}

#[tokio::test]
async fn raw_bodies_and_bodiless_answers_are_as_documented() {
    let router = router();
    let response = |uri: &str| get(uri).body(Body::empty()).expect("request");
    let (status, headers, _) = call(&router, response("/items/3/note")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    let (status, headers, _) = call(&router, response("/items/3/file")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["content-type"], "application/pdf",
        "the first media type"
    );
    let (status, headers, _) = call(&router, response("/blob")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/octet-stream");
    let (status, headers, _) = call(&router, response("/old")).await;
    assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(headers["location"], "");

    let ping = Request::post("/ping").body(Body::empty()).expect("request");
    let (status, _, _) = call(&router, ping).await;
    assert_eq!(status, StatusCode::OK, "`default` is the success");

    let remove = Request::delete("/items/3")
        .body(Body::empty())
        .expect("request");
    let (status, headers, body) = call(&router, remove).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the first documented error");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["code"], "NOT_FOUND");
}

#[tokio::test]
async fn of_several_media_types_the_one_accept_prefers() {
    let router = router();
    let with_accept = |accept: &str| {
        get("/items/3/file")
            .header("accept", accept)
            .body(Body::empty())
            .expect("request")
    };
    for (accept, expected) in [
        ("application/json", "application/json"),
        (
            "application/pdf;q=0.5, application/json;q=0.9",
            "application/json",
        ),
        ("application/json, application/pdf", "application/pdf"),
        ("*/*", "application/pdf"),
        // Nothing acceptable: the mock answers its first anyway.
        ("text/html", "application/pdf"),
    ] {
        let (status, headers, _) = call(&router, with_accept(accept)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], expected, "Accept: {accept}");
    }
    assert_eq!(
        spec::GetFileOkBody::MEDIA_TYPES,
        ["application/pdf", "application/json"]
    );
}
