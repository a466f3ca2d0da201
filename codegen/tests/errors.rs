//! A spec the generator cannot honour is an error naming where in the spec
//! the problem is; the generator never panics on its input.

use charter_codegen::{Settings, generate};

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

#[test]
fn missing_operation_id_names_the_operation() {
    fails_at(
        &spec(&format!("  /a:\n    get: {{{OK_RESPONSE}}}")),
        "$.paths['/a'].get",
        "operationId",
    );
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

#[test]
fn cookie_parameters_are_rejected() {
    fails_at(
        &spec(&format!(
            "  /a:\n    get:\n      operationId: a\n      parameters: [{{name: s, in: cookie, schema: {{type: string}}}}]\n      {OK_RESPONSE}"
        )),
        "$.paths['/a'].get.parameters[0]",
        "cookie",
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
            "  /a:\n    post:\n      operationId: a\n      requestBody: {content: {text/plain: {schema: {type: string}}}}\n      responses: {'204': {description: ok}}",
        ),
        "$.paths['/a'].post.requestBody.content['text/plain']",
        "application/json",
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
