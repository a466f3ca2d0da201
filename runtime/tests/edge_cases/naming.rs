//! Names that are not Rust identifiers keep their wire names in request and
//! response bodies; operations named from method and path are routed; an
//! OAuth2 scheme is a bearer check and a skipped cookie scheme refuses.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use charter_runtime::{Problem, RequestContext};

use super::{Fake, call, get};

#[allow(clippy::all, dead_code, unused_imports)]
mod spec {
    include!("../../../codegen/tests/golden/edge_naming.rs");
}

impl spec::Api for Fake {
    async fn data_sets_create(
        &self,
        _ctx: &RequestContext,
        mut body: spec::DataSetList,
    ) -> Result<spec::DataSetsCreateResponse, Problem> {
        // Wire names arrive under their Rust names, and leave by them again.
        body.r#type.push('!');
        body.self_2 = Some(body.self_.clone());
        Ok(spec::DataSetsCreateResponse::Created { body })
    }

    async fn get_user(
        &self,
        _ctx: &RequestContext,
        auth: String,
        path: spec::GetUserPath,
    ) -> Result<spec::GetUserResponse, Problem> {
        let profile = spec::UserProfile {
            id: path.user_id,
            display_name: Some(auth),
        };
        Ok(spec::GetUserResponse::Ok {
            body: spec::User2 {
                id: path.user_id,
                profile: Some(profile),
            },
        })
    }

    async fn get_users_user_id_photos(
        &self,
        _ctx: &RequestContext,
        path: spec::GetUsersUserIdPhotosPath,
    ) -> Result<spec::GetUsersUserIdPhotosResponse, Problem> {
        Ok(spec::GetUsersUserIdPhotosResponse::Ok {
            body: vec![format!("{}.jpg", path.user_id)],
        })
    }

    async fn get_users_photos(
        &self,
        _ctx: &RequestContext,
    ) -> Result<spec::GetUsersPhotosResponse, Problem> {
        Ok(spec::GetUsersPhotosResponse::NoContent)
    }

    async fn get_users_photos_2(
        &self,
        _ctx: &RequestContext,
    ) -> Result<spec::GetUsersPhotos2Response, Problem> {
        Ok(spec::GetUsersPhotos2Response::NoContent)
    }
}

fn post_json(uri: &str, body: &serde_json::Value) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

#[tokio::test]
async fn renamed_fields_keep_their_wire_names_both_ways() {
    let router = spec::router(Fake);
    let sent = serde_json::json!({
        "dataSetId": 7, "type": "t", "self": "me", "2fa_config": {"enabled": true},
        "$ref-like": "r", "café": "c", "fooBar": "camel", "foo_bar": "snake",
        "owner": {"id": 1, "display-name": "Ann"},
    });
    let (status, _, body) = call(&router, post_json("/data-sets", &sent)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut expected = sent.clone();
    expected["type"] = "t!".into();
    expected["Self"] = "me".into();
    expected["kind"] = "plain".into();
    assert_eq!(body, expected);

    // The Rust name is no wire name: the required `dataSetId` is missing.
    let mut snake = sent.clone();
    snake["data_set_id"] = snake["dataSetId"].take();
    snake.as_object_mut().expect("object").remove("dataSetId");
    let (status, _, body) = call(&router, post_json("/data-sets", &snake)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

/// A GET of `uri` with `headers`, through `router`: its status and JSON.
async fn get_json(
    router: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let request = headers.iter().fold(get(uri), |request, (name, value)| {
        request.header(*name, *value)
    });
    let (status, _, body) = call(router, request.body(Body::empty()).expect("request")).await;
    (status, body)
}

#[tokio::test]
async fn derived_operation_names_route_and_oauth2_is_a_bearer_check() {
    let router = spec::router(Fake);
    let ids: Vec<&str> = spec::OPERATIONS.iter().map(|op| op.operation_id).collect();
    assert_eq!(
        ids,
        [
            "dataSets.create",
            "get-user",
            "get_users_user_id_photos",
            "get_users_photos",
            "get_users_photos_2",
        ]
    );
    assert_eq!(
        get_json(&router, "/users/3/photos", &[]).await,
        (StatusCode::OK, serde_json::json!(["3.jpg"]))
    );
    for uri in ["/users_photos", "/users-photos"] {
        let (status, _) = get_json(&router, uri, &[]).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{uri}");
    }

    assert_eq!(
        get_json(&router, "/users/5", &[("authorization", "Bearer good")]).await,
        (
            StatusCode::OK,
            serde_json::json!({"id": 5, "profile": {"id": 5, "display-name": "bearer-user"}})
        )
    );
    // The cookie scheme was skipped: its credential authenticates nothing.
    let (status, _) = get_json(&router, "/users/5", &[("cookie", "session=key")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
