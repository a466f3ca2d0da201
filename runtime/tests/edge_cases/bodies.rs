//! Bodies of every media type, sent as a client would: raw bytes and text
//! arrive intact, forms parse into their struct or give 422 with pointers,
//! multipart parts arrive by name with their files, a body of another type
//! is 415 and one over the limit 413, and each response carries the media
//! type the spec declares for it.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use charter_runtime::{BodyLimit, Bytes, Content, Multipart, Problem, RequestContext};
use tower::ServiceExt;

use super::edge_bodies::{self as spec, Api};
use super::{Fake, call};

impl Api for Fake {
    async fn echo_bytes(
        &self,
        _ctx: &RequestContext,
        body: Bytes,
    ) -> Result<spec::EchoBytesResponse, Problem> {
        Ok(spec::EchoBytesResponse::Ok { body })
    }

    async fn echo_text(
        &self,
        _ctx: &RequestContext,
        body: String,
    ) -> Result<spec::EchoTextResponse, Problem> {
        Ok(spec::EchoTextResponse::Ok {
            body: body.to_uppercase(),
        })
    }

    async fn get_report(&self, _ctx: &RequestContext) -> Result<spec::GetReportResponse, Problem> {
        Ok(spec::GetReportResponse::Ok {
            body: "name,size\nbolt,3\n".to_owned(),
        })
    }

    async fn store_any(
        &self,
        _ctx: &RequestContext,
        body: Content<Bytes>,
    ) -> Result<spec::StoreAnyResponse, Problem> {
        Ok(spec::StoreAnyResponse::Ok { body })
    }

    async fn upload_image(
        &self,
        _ctx: &RequestContext,
        body: Option<Content<Bytes>>,
    ) -> Result<spec::UploadImageResponse, Problem> {
        Ok(match body {
            None => spec::UploadImageResponse::NoContent,
            Some(image) => spec::UploadImageResponse::Created {
                body: serde_json::json!({
                    "type": image.media_type(),
                    "size": image.data.len(),
                }),
            },
        })
    }

    async fn submit_form(
        &self,
        _ctx: &RequestContext,
        body: spec::Signup,
    ) -> Result<spec::SubmitFormResponse, Problem> {
        Ok(spec::SubmitFormResponse::Created { body })
    }

    async fn submit_pairs(
        &self,
        _ctx: &RequestContext,
        body: Vec<(String, String)>,
    ) -> Result<spec::SubmitPairsResponse, Problem> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&body)
            .finish();
        Ok(spec::SubmitPairsResponse::Ok { body })
    }

    async fn upload_files(
        &self,
        _ctx: &RequestContext,
        body: Multipart,
    ) -> Result<spec::UploadFilesResponse, Problem> {
        let files = body
            .parts()
            .iter()
            .filter_map(|part| {
                Some(format!(
                    "{}:{}:{}:{}",
                    part.name,
                    part.file_name.as_deref()?,
                    part.content_type.as_deref().unwrap_or("-"),
                    String::from_utf8_lossy(&part.data)
                ))
            })
            .collect();
        Ok(spec::UploadFilesResponse::Created {
            body: spec::UploadFilesCreatedBody {
                title: body.text("title").unwrap_or_default().to_owned(),
                copies: body
                    .text("copies")
                    .and_then(|copies| copies.parse().ok())
                    .unwrap_or(1),
                files,
            },
        })
    }

    async fn put_note(
        &self,
        _ctx: &RequestContext,
        _path: spec::PutNotePath,
        query: spec::PutNoteQuery,
        body: Option<spec::PutNoteBody>,
    ) -> Result<spec::PutNoteResponse, Problem> {
        let Some(body) = body else {
            return Ok(spec::PutNoteResponse::NoContent);
        };
        let note = |text: &str| spec::Note {
            text: text.to_owned(),
            pinned: None,
        };
        let (received_as, note) = match body {
            spec::PutNoteBody::Json(note) => ("json", note),
            spec::PutNoteBody::Form(note) => ("form", note),
            spec::PutNoteBody::Text(text) => ("text", note(&text)),
            spec::PutNoteBody::Multipart(parts) => {
                ("multipart", note(parts.text("text").unwrap_or_default()))
            }
        };
        let body = match query.format {
            spec::PutNoteFormat::Json => spec::PutNoteOkBody::Json(note),
            spec::PutNoteFormat::Markdown => {
                spec::PutNoteOkBody::Markdown(format!("# {}", note.text))
            }
            spec::PutNoteFormat::Xml => {
                spec::PutNoteOkBody::Xml(Bytes::from(format!("<note>{}</note>", note.text)))
            }
        };
        Ok(spec::PutNoteResponse::Ok {
            body,
            x_received_as: received_as.to_owned(),
        })
    }

    async fn patch_note(
        &self,
        _ctx: &RequestContext,
        _path: spec::PatchNotePath,
        body: spec::PatchNoteBody,
    ) -> Result<spec::PatchNoteResponse, Problem> {
        Ok(spec::PatchNoteResponse::Ok {
            body: spec::Note {
                text: body.text.unwrap_or_default(),
                pinned: Some(true),
            },
        })
    }
}

/// A request with a body, and `Content-Type` when given.
fn request(
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let builder = Request::builder().method(method).uri(uri);
    let builder = match content_type {
        Some(content_type) => builder.header("content-type", content_type),
        None => builder,
    };
    builder.body(body.into()).expect("request")
}

/// Status, headers and the body's bytes as they came.
async fn send(router: &axum::Router, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, headers, body)
}

/// The status of a problem and its code.
async fn problem_code(router: &axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let (status, _, problem) = call(router, request).await;
    (
        status,
        problem["code"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The pointers of a 422's violations, sorted.
fn pointers(problem: &serde_json::Value) -> Vec<String> {
    let mut found: Vec<String> = problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["pointer"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

const BOUNDARY: &str = "edge-bodies-boundary";
const FORM: &str = "application/x-www-form-urlencoded";

/// A part to send: name, file name, its own `Content-Type`, data.
type SentPart<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A multipart body of `parts`, and its `Content-Type`.
fn multipart(parts: &[SentPart<'_>]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, file_name, content_type, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(file_name) = file_name {
            disposition.push_str(&format!("; filename=\"{file_name}\""));
        }
        body.extend_from_slice(format!("{disposition}\r\n").as_bytes());
        if let Some(content_type) = content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

#[test]
fn body_schemas_compile() {
    spec::check_schemas().expect("edge_bodies schemas compile");
}

#[tokio::test]
async fn raw_bytes_arrive_and_leave_intact() {
    let router = spec::router(Fake);
    let bytes: Vec<u8> = (0..=255).chain([0, 0xff, b'\r', b'\n']).collect();
    let (status, headers, body) = send(
        &router,
        request(
            "POST",
            "/raw",
            Some("application/octet-stream"),
            bytes.clone(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(body.as_ref(), bytes.as_slice());

    // No Content-Type: bytes are taken for application/octet-stream.
    let (status, _, body) = send(&router, request("POST", "/raw", None, "abc")).await;
    assert_eq!((status, body.as_ref()), (StatusCode::OK, &b"abc"[..]));

    // An empty body that names its type is an empty value, not a missing one.
    let (status, _, body) = send(
        &router,
        request(
            "POST",
            "/raw",
            Some("application/octet-stream"),
            Body::empty(),
        ),
    )
    .await;
    assert_eq!((status, body.len()), (StatusCode::OK, 0));

    let (status, headers, problem) =
        call(&router, request("POST", "/raw", Some("text/plain"), "abc")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        problem["detail"],
        "The request body must be application/octet-stream."
    );

    // Nothing at all for a required body is a violation like a missing field.
    let (status, _, problem) = call(&router, request("POST", "/raw", None, Body::empty())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&problem), ["#"]);
}

#[tokio::test]
async fn text_arrives_as_a_string_checked_against_its_schema() {
    let router = spec::router(Fake);
    let (status, headers, body) = send(
        &router,
        request(
            "POST",
            "/text",
            Some("text/plain; charset=UTF-8"),
            "héllo wörld",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(body.as_ref(), "HÉLLO WÖRLD".as_bytes());

    let (status, _, problem) = call(
        &router,
        request(
            "POST",
            "/text",
            Some("text/plain"),
            "no digits 4 me, too long",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(pointers(&problem), ["#", "#"], "pattern and maxLength");

    assert_eq!(
        problem_code(
            &router,
            request("POST", "/text", Some("text/plain"), vec![b'a', 0xff]),
        )
        .await,
        (StatusCode::BAD_REQUEST, "MALFORMED_TEXT".to_owned())
    );

    let (status, _, _) = call(
        &router,
        request(
            "POST",
            "/text",
            Some("text/plain; charset=iso-8859-1"),
            "abc",
        ),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "only UTF-8 is read"
    );

    let (status, headers, body) =
        send(&router, request("GET", "/report", None, Body::empty())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(body.as_ref(), b"name,size\nbolt,3\n");
}

#[tokio::test]
async fn ranges_take_any_type_within_and_say_which() {
    let router = spec::router(Fake);
    for content_type in ["image/png", "application/vnd.custom+json; v=2", "text/html"] {
        let (status, headers, body) = send(
            &router,
            request("PUT", "/any", Some(content_type), &b"\x89PNG\r\n"[..]),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{content_type}");
        assert_eq!(
            headers["content-type"], content_type,
            "sent back as it came"
        );
        assert_eq!(body.as_ref(), b"\x89PNG\r\n");
    }

    let (status, _, body) = call(
        &router,
        request("POST", "/images", Some("image/webp"), vec![1, 2, 3]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, serde_json::json!({"type": "image/webp", "size": 3}));
    let (status, _, _) = call(&router, request("POST", "/images", Some("video/mp4"), "x")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _, _) = call(&router, request("POST", "/images", None, Body::empty())).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "an optional body may be left out"
    );

    // A range response refuses a type outside it, and what is no type.
    for (range, content_type) in [
        ("image/*", "text/html"),
        ("*/*", "nonsense"),
        ("*/*", "*/*"),
    ] {
        let response = charter_runtime::content_response(
            StatusCode::OK,
            range,
            Content::new(content_type, Bytes::new()),
        );
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{content_type} in {range}"
        );
    }
}

#[tokio::test]
async fn forms_parse_into_their_struct() {
    let router = spec::router(Fake);
    let form = "name=Ann+Lee&age=42&ratio=0.5&tags=a&tags=b%26c&plan=pro";
    let (status, _, body) = call(&router, request("POST", "/forms", Some(FORM), form)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "name": "Ann Lee", "age": 42, "ratio": 0.5, "tags": ["a", "b&c"],
            "subscribe": false, "plan": "pro"
        }),
        "typed values, and the default of what was left out"
    );

    let (status, _, body) = send(
        &router,
        request("POST", "/forms/pairs", Some(FORM), "b=2&a=1&a=x+y"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body.as_ref(),
        b"b=2&a=1&a=x+y",
        "pairs in order, repeats kept"
    );
}

#[tokio::test]
async fn form_violations_are_422_with_pointers() {
    let router = spec::router(Fake);
    let cases: [(&str, &[&str], &str); 3] = [
        (
            "name=&age=old&ratio=x&tags=1&tags=2&tags=3&tags=4&subscribe=maybe&plan=gold&extra=1",
            &[
                "#/age",
                "#/extra",
                "#/name",
                "#/plan",
                "#/ratio",
                "#/subscribe",
                "#/tags",
            ],
            "each field by its schema",
        ),
        ("name=a&name=b", &["#/name"], "a single field given twice"),
        ("age=1", &["#/name"], "required"),
    ];
    for (form, expected, why) in cases {
        let (status, headers, problem) =
            call(&router, request("POST", "/forms", Some(FORM), form)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {problem}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(pointers(&problem), expected, "{why}");
        assert!(
            problem["errors"]
                .as_array()
                .is_some_and(|errors| errors.iter().all(|e| e["location"] == "body"))
        );
    }

    for (content_type, form, expected) in [
        (FORM, "name=%FF", StatusCode::BAD_REQUEST),
        (
            "application/json",
            r#"{"name":"a"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let (status, _, _) =
            call(&router, request("POST", "/forms", Some(content_type), form)).await;
        assert_eq!(status, expected, "{form}");
    }
}

#[tokio::test]
async fn multipart_files_and_fields_arrive_by_name() {
    let router = spec::router(Fake);
    let (content_type, body) = multipart(&[
        ("title", None, None, b"Holiday"),
        ("copies", None, None, b"2"),
        (
            "file",
            Some("notes.txt"),
            Some("text/plain"),
            b"line 1\r\nline 2",
        ),
        (
            "attachments",
            Some("a.bin"),
            Some("application/octet-stream"),
            b"\x00\x01",
        ),
        ("attachments", Some("b.png"), Some("image/png"), b"PNG"),
    ]);
    let (status, _, body) = call(
        &router,
        request("POST", "/uploads", Some(&content_type), body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["title"], "Holiday");
    assert_eq!(body["copies"], 2);
    assert_eq!(
        body["files"],
        serde_json::json!([
            "file:notes.txt:text/plain:line 1\r\nline 2",
            "attachments:a.bin:application/octet-stream:\u{0}\u{1}",
            "attachments:b.png:image/png:PNG",
        ])
    );

    // No file, a field of the wrong kind, a file of a type `encoding` refuses.
    let (content_type, body) =
        multipart(&[("title", None, None, b""), ("copies", None, None, b"zero")]);
    let (status, _, problem) = call(
        &router,
        request("POST", "/uploads", Some(&content_type), body),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(pointers(&problem), ["#/copies", "#/file", "#/title"]);
    let (content_type, body) = multipart(&[
        ("title", None, None, b"x"),
        ("file", Some("doc.pdf"), Some("application/pdf"), b"%PDF"),
    ]);
    let (status, _, problem) = call(
        &router,
        request("POST", "/uploads", Some(&content_type), body),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(pointers(&problem), ["#/file"]);

    // Broken framing or no boundary is malformed.
    for content_type in ["multipart/form-data", "multipart/form-data; boundary=other"] {
        let (status, _, problem) = call(
            &router,
            request("POST", "/uploads", Some(content_type), "--x\r\nnot a part"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{content_type}: {problem}");
        assert_eq!(problem["code"], "MALFORMED_MULTIPART");
    }
}

#[tokio::test]
async fn every_media_type_is_read_within_the_limit() {
    let small = spec::router(Fake).layer(BodyLimit(64).layer());
    let big = vec![b'x'; 100];
    let (form_type, form) = multipart(&[("title", None, None, &big)]);
    for (uri, content_type, body) in [
        ("/raw", "application/octet-stream", big.clone()),
        ("/text", "text/plain", big.clone()),
        ("/any", "image/png", big.clone()),
        ("/forms", FORM, big.clone()),
        ("/uploads", form_type.as_str(), form),
    ] {
        let method = if uri == "/any" { "PUT" } else { "POST" };
        let (status, _, _) = call(&small, request(method, uri, Some(content_type), body)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}");
    }

    // A limit past axum's own 2 MB default holds for multipart bodies too.
    let large = spec::router(Fake).layer(BodyLimit(4 * 1024 * 1024).layer());
    let file = vec![b'y'; 3 * 1024 * 1024];
    let (content_type, body) = multipart(&[
        ("title", None, None, b"big"),
        ("file", Some("big.txt"), Some("text/plain"), &file),
    ]);
    let (status, _, body) = call(
        &large,
        request("POST", "/uploads", Some(&content_type), body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        body["files"][0].as_str().map(str::len),
        Some("file:big.txt:text/plain:".len() + file.len())
    );
}

#[tokio::test]
async fn several_media_types_are_told_apart_by_content_type() {
    let router = spec::router(Fake);
    let (multipart_type, multipart_body) = multipart(&[("text", None, None, b"from parts")]);
    for (content_type, body, received_as, text) in [
        (
            "application/json",
            br#"{"text":"from json"}"#.to_vec(),
            "json",
            "from json",
        ),
        (
            FORM,
            b"text=from+form&pinned=true".to_vec(),
            "form",
            "from form",
        ),
        ("text/plain", b"from text".to_vec(), "text", "from text"),
        (
            multipart_type.as_str(),
            multipart_body,
            "multipart",
            "from parts",
        ),
    ] {
        let (status, headers, body) = call(
            &router,
            request("PUT", "/notes/1", Some(content_type), body),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{content_type}: {body}");
        assert_eq!(headers["x-received-as"], received_as);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(body["text"], text);
    }

    let (status, _, problem) = call(
        &router,
        request("PUT", "/notes/1", Some("application/xml"), "<note/>"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        problem["detail"],
        "The request body must be one of application/json, \
         application/x-www-form-urlencoded, text/plain, multipart/form-data."
    );
    // Each media type keeps its own checks.
    for (content_type, body, pointer) in [
        ("application/json", r#"{"pinned":1}"#, "#/pinned"),
        (FORM, "pinned=yes", "#/pinned"),
    ] {
        let (status, _, problem) = call(
            &router,
            request("PUT", "/notes/1", Some(content_type), body),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{content_type}");
        assert_eq!(pointers(&problem), [pointer, "#/text"], "{content_type}");
    }
    let (status, _, _) = call(&router, request("PUT", "/notes/1", None, Body::empty())).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn responses_carry_the_media_type_of_their_variant() {
    let router = spec::router(Fake);
    for (format, content_type, expected) in [
        ("markdown", "text/markdown; charset=utf-8", "# hi"),
        ("xml", "application/xml", "<note>hi</note>"),
        ("json", "application/json", r#"{"text":"hi"}"#),
    ] {
        let (status, headers, body) = send(
            &router,
            request(
                "PUT",
                &format!("/notes/1?format={format}"),
                Some("text/plain"),
                "hi",
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{format}");
        assert_eq!(headers["content-type"], content_type);
        assert_eq!(body.as_ref(), expected.as_bytes());
    }

    // Another JSON media type, both ways; application/json is not it.
    let (status, headers, body) = call(
        &router,
        request(
            "PATCH",
            "/notes/1",
            Some("application/merge-patch+json"),
            r#"{"text":"new"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], "application/merge-patch+json");
    assert_eq!(body, serde_json::json!({"text": "new", "pinned": true}));
    let (status, _, problem) = call(
        &router,
        request(
            "PATCH",
            "/notes/1",
            Some("application/merge-patch+json"),
            r#"{"text":"far too long"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&problem), ["#/text"]);
    assert_eq!(
        problem_code(
            &router,
            request(
                "PATCH",
                "/notes/1",
                Some("application/merge-patch+json"),
                "{"
            ),
        )
        .await,
        (StatusCode::BAD_REQUEST, "MALFORMED_JSON".to_owned())
    );
    let (status, _, _) = call(
        &router,
        request(
            "PATCH",
            "/notes/1",
            Some("application/json"),
            r#"{"text":"new"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let put_note = spec::OPERATIONS
        .iter()
        .find(|op| op.operation_id == "putNote")
        .map(|op| op.produces);
    assert_eq!(
        put_note,
        Some(&["application/json", "text/markdown", "application/xml"][..]),
        "the operation table lists what content negotiation may pick from"
    );
}
