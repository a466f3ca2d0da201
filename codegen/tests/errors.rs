//! A spec the generator cannot honour is an error naming where in the spec
//! the problem is; what it honours only in part is a warning located the same
//! way, and an error in a strict spec; the generator never panics on its input.

use charter_codegen::{Settings, Warning, generate, generate_with_warnings};

fn settings() -> Settings {
    Settings::new("crate::runtime", "test.yaml").replace("Problem", "crate::runtime::Problem")
}

fn spec(paths: &str) -> String {
    format!(
        r#"openapi: 3.0.3
info: {{title: T, version: '1'}}
paths:
{paths}
components:
  schemas:
    Problem: {{type: object}}
"#
    )
}

#[track_caller]
fn fails_at(source: &str, path: &str, message: &str) {
    match generate(source, &settings()) {
        Ok(_) => panic!("expected an error at {path}"),
        Err(error) => {
            assert_eq!(error.path, path, "{error}");
            assert!(error.message.contains(message), "{error}");
        }
    }
}

const OK_RESPONSE: &str = "responses: {'204': {description: ok}}";

/// The generated code and warnings of a spec that generates.
#[track_caller]
fn generates(source: &str) -> (String, Vec<Warning>) {
    generate_with_warnings(source, &settings()).unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts a warning at `path` whose message holds `message`.
#[track_caller]
fn warns_at(warnings: &[Warning], path: &str, message: &str) {
    assert!(
        warnings
            .iter()
            .any(|w| w.path == path && w.message.contains(message)),
        "no warning at {path} with `{message}` in {warnings:#?}"
    );
}

/// `spec` with `x-charter-strict: true` at its root.
fn strict(source: &str) -> String {
    source.replacen("info:", "x-charter-strict: true\ninfo:", 1)
}

#[test]
fn missing_operation_ids_are_derived_from_method_and_path() {
    let source = spec(&format!(
        "  /pets/{{petId}}/photos:\n    get:\n      parameters: [{{name: petId, in: path, required: true, schema: {{type: string}}}}]\n      {OK_RESPONSE}"
    ));
    let (code, warnings) = generates(&source);
    assert!(code.contains("fn get_pets_pet_id_photos("), "{code}");
    assert!(
        code.contains("pub struct GetPetsPetIdPhotosPath {"),
        "{code}"
    );
    assert!(
        code.contains(r#"operation_id: "get_pets_pet_id_photos""#),
        "{code}"
    );
    warns_at(
        &warnings,
        "$.paths['/pets/{petId}/photos'].get",
        "named `get_pets_pet_id_photos`",
    );
    // `generate` gives the same code, without the warnings.
    assert_eq!(generate(&source, &settings()), Ok(code));
}

#[test]
fn a_strict_spec_keeps_missing_operation_ids_an_error() {
    fails_at(
        &strict(&spec(&format!("  /a:\n    get: {{{OK_RESPONSE}}}"))),
        "$.paths['/a'].get",
        "operationId",
    );
    fails_at(
        &spec(&format!("  /a:\n    get: {{{OK_RESPONSE}}}")).replacen(
            "info:",
            "x-charter-strict: yes please\ninfo:",
            1,
        ),
        "$.x-charter-strict",
        "true or false",
    );
}

/// Explicit ids are named first, one that is its own method name before
/// the others; derived ids follow in document order; a collision takes the
/// first free `_2`, `_3`, … (and the types `2`, `3`, …).
#[test]
fn operation_names_collide_deterministically() {
    let (code, _) = generates(&spec(&format!(
        "  /a-b:\n    get: {{{OK_RESPONSE}}}\n  /a_b:\n    get: {{{OK_RESPONSE}}}\n  /x:\n    get: {{operationId: get_a_b, {OK_RESPONSE}}}\n  /y:\n    get: {{operationId: listPets, {OK_RESPONSE}}}\n  /z:\n    get: {{operationId: list-pets, {OK_RESPONSE}}}\n  /w:\n    get: {{operationId: list_pets, {OK_RESPONSE}}}"
    )));
    for (route, method, response) in [
        ("/x", "get_a_b", "GetAB"),
        ("/a-b", "get_a_b_2", "GetAB2"),
        ("/a_b", "get_a_b_3", "GetAB3"),
        ("/w", "list_pets", "ListPets"),
        ("/y", "list_pets_2", "ListPets2"),
        ("/z", "list_pets_3", "ListPets3"),
    ] {
        let handler = format!("get(handle_{method}::<A>)");
        let route_line = code
            .lines()
            .find(|line| line.contains(&handler))
            .unwrap_or_else(|| panic!("no route for {method}:\n{code}"));
        assert!(route_line.contains(&format!("\"{route}\"")), "{route_line}");
        assert!(
            code.contains(&format!("pub enum {response}Response {{")),
            "{response}"
        );
    }
    assert!(code.contains(r#"operation_id: "get_a_b_2""#), "{code}");
}

#[test]
fn operation_ids_that_are_not_identifiers_follow_the_naming_rule() {
    let (code, warnings) = generates(&spec(&format!(
        "  /a:\n    get: {{operationId: pets.list, {OK_RESPONSE}}}\n  /b:\n    get: {{operationId: match, {OK_RESPONSE}}}\n  /c:\n    get: {{operationId: authenticate, {OK_RESPONSE}}}\n  /d:\n    get: {{operationId: 2fa-setup, {OK_RESPONSE}}}"
    )));
    assert!(warnings.is_empty(), "{warnings:?}");
    for expected in [
        "fn pets_list(",
        "pub enum PetsListResponse {",
        r#"operation_id: "pets.list""#,
        // A keyword is a raw identifier; the handler's name needs none.
        "fn r#match(",
        "async fn handle_match<",
        // `Api` inherits `authenticate` from `Authenticator`.
        "fn authenticate_2(",
        "pub enum AuthenticateResponse {",
        "fn x2fa_setup(",
        "pub enum X2faSetupResponse {",
    ] {
        assert!(code.contains(expected), "`{expected}` in\n{code}");
    }
}

#[test]
fn duplicate_operation_ids_name_both_places() {
    fails_at(
        &spec(&format!(
            "  /a:\n    get: {{operationId: x, {OK_RESPONSE}}}\n  /b:\n    get: {{operationId: x, {OK_RESPONSE}}}"
        )),
        "$.paths['/b'].get",
        "$.paths['/a'].get",
    );
}

/// The server reads no cookies: an optional cookie parameter is skipped
/// with a warning, a required one (which it would not enforce) is an error.
#[test]
fn cookie_parameters_are_skipped_unless_required() {
    let optional = spec(&format!(
        "  /a:\n    get:\n      operationId: a\n      parameters: [{{name: s, in: cookie, schema: {{type: string}}}}]\n      {OK_RESPONSE}"
    ));
    let (code, warnings) = generates(&optional);
    warns_at(
        &warnings,
        "$.paths['/a'].get.parameters[0]",
        "cookie parameter `s` is skipped",
    );
    assert!(!code.contains("pub struct AQuery"), "{code}");
    fails_at(
        &strict(&optional),
        "$.paths['/a'].get.parameters[0]",
        "cookie",
    );
    fails_at(
        &optional.replace("in: cookie,", "in: cookie, required: true,"),
        "$.paths['/a'].get.parameters[0]",
        "is required",
    );
}

#[test]
fn callbacks_links_and_webhooks_are_skipped_with_their_paths() {
    let source = spec(
        "  /a:\n    post:\n      operationId: a\n      callbacks:\n        done: {'{$request.body#/url}': {post: {responses: {'204': {description: ok}}}}}\n      responses:\n        '201':\n          description: ok\n          links:\n            next: {operationId: a}",
    )
    .replacen(
        "paths:",
        "x-webhooks:\n  newPet: {post: {responses: {'204': {description: ok}}}}\npaths:",
        1,
    );
    let (_, warnings) = generates(&source);
    warns_at(
        &warnings,
        "$.paths['/a'].post.callbacks.done",
        "callback `done` is skipped",
    );
    warns_at(
        &warnings,
        "$.paths['/a'].post.responses.201.links.next",
        "link `next` is skipped",
    );
    warns_at(
        &warnings,
        "$.x-webhooks.newPet",
        "webhook `newPet` is skipped",
    );
    fails_at(&strict(&source), "$.x-webhooks.newPet", "webhook");
}

/// OAuth2 and OpenID Connect are bearer tokens to the router; what flows and
/// scopes grant is left to the Authenticator, with a warning saying so.
#[test]
fn oauth2_and_openid_connect_are_checked_as_bearer_tokens() {
    let source = spec(&format!(
        "  /a:\n    get:\n      operationId: a\n      security: [{{oauth: [pets:read]}}, {{oidc: []}}]\n      {OK_RESPONSE}"
    ))
    .replacen(
        "components:",
        "components:\n  securitySchemes:\n    oauth: {type: oauth2, flows: {implicit: {authorizationUrl: 'https://a.example/auth', scopes: {pets:read: read}}}}\n    oidc: {type: openIdConnect, openIdConnectUrl: 'https://a.example/.well-known/openid-configuration'}",
        1,
    );
    let (code, warnings) = generates(&source);
    warns_at(
        &warnings,
        "$.components.securitySchemes.oauth",
        "checked as a bearer token",
    );
    warns_at(
        &warnings,
        "$.components.securitySchemes.oidc",
        "checked as a bearer token",
    );
    warns_at(
        &warnings,
        "$.paths['/a'].get.security[0].oauth",
        "scopes `pets:read` of `oauth` are not checked",
    );
    assert!(
        code.contains("kind: crate::runtime::SchemeKind::Bearer"),
        "{code}"
    );
    assert!(
        code.contains(r#"security: &[&["oauth"], &["oidc"]]"#),
        "{code}"
    );
}

/// A cookie API key is skipped with a warning: refusing its credential
/// keeps requests out. An operation it alone secures would be open, so that
/// is an error.
#[test]
fn cookie_api_keys_are_skipped_but_never_open_an_operation() {
    let schemes = "components:\n  securitySchemes:\n    cookieAuth: {type: apiKey, in: cookie, name: session}\n    bearer: {type: http, scheme: bearer}";
    let either = spec(&format!(
        "  /a:\n    get:\n      operationId: a\n      security: [{{cookieAuth: []}}, {{bearer: []}}]\n      {OK_RESPONSE}"
    ))
    .replacen("components:", schemes, 1);
    let (code, warnings) = generates(&either);
    warns_at(
        &warnings,
        "$.components.securitySchemes.cookieAuth",
        "API key in a cookie",
    );
    assert!(code.contains(r#"security: &[&["bearer"]]"#), "{code}");
    let only = either.replace("[{cookieAuth: []}, {bearer: []}]", "[{cookieAuth: []}]");
    fails_at(&only, "$.paths['/a'].get.security", "open to anyone");
}

/// A default names its variant by the value alone, so two values that would
/// share a variant are an error, not a suffix.
#[test]
fn enum_values_sharing_a_variant_are_rejected() {
    fails_at(
        &spec(&format!(
            "  /a:\n    get: {{operationId: a, {OK_RESPONSE}}}"
        ))
        .replacen(
            "Problem: {type: object}",
            "Problem: {type: object}\n    Mode: {type: string, enum: [a-b, a_b]}",
            1,
        ),
        "$.components.schemas.Mode.enum[1]",
        "`a-b` and `a_b` both become the variant `AB`",
    );
}

#[test]
fn undeclared_path_parameters_are_rejected() {
    fails_at(
        &spec(&format!(
            "  /a/{{id}}:\n    get: {{operationId: a, {OK_RESPONSE}}}"
        )),
        "$.paths['/a/{id}'].get",
        "`id`",
    );
}

#[test]
fn unsupported_media_types_are_rejected() {
    fails_at(
        &spec(
            "  /a:\n    post:\n      operationId: a\n      requestBody: {content: {text/event-stream: {}}}\n      responses: {'204': {description: ok}}",
        ),
        "$.paths['/a'].post.requestBody.content['text/event-stream']",
        "event stream",
    );
}

#[test]
fn dangling_references_are_reported() {
    fails_at(
        &spec(
            "  /a:\n    get:\n      operationId: a\n      responses: {'200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Nope'}}}}}",
        ),
        "$.paths['/a'].get.responses.200.content['application/json'].schema",
        "does not resolve",
    );
}

#[test]
fn openapi_31_and_non_yaml_are_rejected() {
    fails_at(
        "openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths: {}",
        "$.openapi",
        "3.0.x",
    );
    let error = generate("{ not yaml", &settings()).err();
    assert!(error.is_some_and(|e| e.path.starts_with("line ")));
}

#[test]
fn structural_errors_carry_their_path() {
    // `responses` entries need a description: the typed model says where.
    let error = generate(
        &spec("  /a:\n    get: {operationId: a, responses: {'200': {content: {}}}}"),
        &settings(),
    )
    .err();
    assert!(
        error.as_ref().is_some_and(|e| e.path.contains("paths")),
        "{error:?}"
    );
}

/// Charter's own documents are served as written: nothing skipped.
#[test]
fn charters_own_specs_have_no_warnings() {
    for source in [
        include_str!("../../openapi/v1.yaml"),
        include_str!("../../openapi/v2.yaml"),
    ] {
        let (_, warnings) = generates(source);
        assert!(warnings.is_empty(), "{warnings:#?}");
    }
}

/// Deletes every `step`-th line of a real spec in turn: each variant either
/// generates or fails with an error, never a panic.
fn mutate_and_generate(source: &str, step: usize) {
    let lines: Vec<&str> = source.lines().collect();
    for skip in (0..lines.len()).step_by(step) {
        let mutated: String = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let _ = generate(&mutated, &settings());
    }
}

#[test]
fn mutated_specs_never_panic() {
    mutate_and_generate(include_str!("../../openapi/v1.yaml"), 2);
    mutate_and_generate(include_str!("../../openapi/v2.yaml"), 29);
    mutate_and_generate(include_str!("specs/edge_schemas.yaml"), 1);
    mutate_and_generate(include_str!("specs/edge_parameters.yaml"), 1);
    mutate_and_generate(include_str!("specs/edge_bodies.yaml"), 1);
    mutate_and_generate(include_str!("specs/edge_naming.yaml"), 1);
}

#[test]
fn websocket_operations_are_gets_with_a_101_response() {
    fails_at(
        &spec(&format!(
            "  /ws:\n    post:\n      operationId: ws\n      x-dropshot-websocket: {{}}\n      {OK_RESPONSE}"
        )),
        "$.paths['/ws'].post",
        "is a GET",
    );
    fails_at(
        &spec(&format!(
            "  /ws:\n    get:\n      operationId: ws\n      x-dropshot-websocket: {{}}\n      {OK_RESPONSE}"
        )),
        "$.paths['/ws'].get.responses",
        "`101`",
    );
    assert!(
        generate(
            &spec(
                "  /ws:\n    get:\n      operationId: ws\n      x-dropshot-websocket: {}\n      responses: {'101': {description: upgraded}}"
            ),
            &settings()
        )
        .is_ok()
    );
}

#[test]
fn an_operation_without_a_listed_success_answers_default_or_only_problems() {
    let source = spec(
        r#"  /ping:
    post:
      operationId: ping
      responses:
        default: {description: successful operation}
  /gone:
    delete:
      operationId: removeGone
      responses:
        '404': {description: no such thing}"#,
    );
    let (code, warnings) = generates(&source);
    warns_at(
        &warnings,
        "$.paths['/ping'].post.responses.default",
        "its `default` response is its success, answered as 200",
    );
    warns_at(
        &warnings,
        "$.paths['/gone'].delete.responses",
        "can answer only with problems",
    );
    assert!(
        code.contains("pub enum PingResponse {\n    /// 200: successful operation\n    Ok,\n}"),
        "{code}"
    );
    assert!(code.contains("pub enum RemoveGoneResponse {}"), "{code}");
    // A strict spec refuses the first.
    fails_at(
        &strict(&source),
        "$.paths['/ping'].post.responses.default",
        "an error with x-charter-strict",
    );
}

#[test]
fn a_schema_named_mock_gives_way_to_the_mock() {
    let source = format!(
        "{}    Mock: {{type: object, properties: {{a: {{type: string}}}}}}\n",
        spec(&format!(
            "  /m:\n    get:\n      operationId: m\n      {OK_RESPONSE}"
        ))
    );
    let plain = generate(&source, &settings()).unwrap_or_else(|e| panic!("{e}"));
    assert!(plain.contains("pub struct Mock {"), "{plain}");
    let mocked = generate(&source, &settings().with_mock()).unwrap_or_else(|e| panic!("{e}"));
    assert!(mocked.contains("pub struct Mock<A>(pub A);"), "{mocked}");
    assert_eq!(mocked.matches("pub struct Mock").count(), 2, "{mocked}");
    assert!(!mocked.contains("pub struct Mock {"), "{mocked}");
}
