//! Contract governance on copies of the real documents: the release gate
//! fails with the right finding for each way a released contract can
//! break, a frozen version refuses anything but text, `info.version`
//! follows semver, a baseline cannot move with a break, a purely additive
//! v2 change passes, and a break passes only as recorded in the release's
//! accepted changes. Also `charter openapi diff`'s exit statuses and
//! formats, and the portal bundle.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use charter::contract::{self, Outcome};
use serde_json::{Value, json};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A specs directory of its own: the released baselines and the current
/// documents as they are in the repository, until a test edits them.
struct Specs {
    dir: PathBuf,
}

impl Specs {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "charter-governance-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("released")).expect("specs directory");
        for file in ["v1.yaml", "v2.yaml", "released/v1.yaml", "released/v2.yaml"] {
            std::fs::copy(Path::new(REPO).join("openapi").join(file), dir.join(file))
                .expect("copy spec");
        }
        // The breaks the current release accepts go with its documents.
        for version in ["v1", "v2"] {
            let record = format!("released/{version}.accepted.yaml");
            let source = Path::new(REPO).join("openapi").join(&record);
            if source.exists() {
                std::fs::copy(source, dir.join(&record)).expect("copy record");
            }
        }
        Specs { dir }
    }

    fn edit(&self, version: &str, change: impl FnOnce(&mut Value)) {
        let path = self.dir.join(format!("{version}.yaml"));
        let text = std::fs::read_to_string(&path).expect("read spec");
        let mut document: Value = serde_yaml::from_str(&text).expect("parse spec");
        change(&mut document);
        std::fs::write(&path, serde_yaml::to_string(&document).expect("yaml")).expect("write spec");
    }

    fn gate(&self) -> (String, Outcome) {
        contract::gate(&self.dir).expect("gate reads the documents")
    }

    fn changelog(&self, name: &str) -> String {
        let version = contract::versions(&self.dir)
            .expect("versions")
            .into_iter()
            .find(|v| v.name == name)
            .expect("the version");
        contract::changelog(&version).expect("changelog")
    }

    /// The directory as a git repository whose first commit is the release.
    fn committed() -> Self {
        let specs = Specs::new();
        git(&specs.dir, &["init", "-q"]);
        git(&specs.dir, &["add", "."]);
        git(&specs.dir, &["commit", "-q", "-m", "Release 2.0.0"]);
        specs
    }

    /// Copies `from` over `to` (`v2.yaml` over `released/v2.yaml` releases it).
    fn copy(&self, from: &str, to: &str) {
        std::fs::copy(self.dir.join(from), self.dir.join(to)).expect("copy spec");
    }
}

impl Drop for Specs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The node at a JSON pointer (`/paths/~1api~1v2~1me/get`).
fn at<'v>(document: &'v mut Value, pointer: &str) -> &'v mut Value {
    document
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the document"))
}

fn remove(document: &mut Value, pointer: &str, key: &str) {
    at(document, pointer)
        .as_object_mut()
        .expect("an object")
        .remove(key)
        .unwrap_or_else(|| panic!("no {key} at {pointer}"));
}

fn set(document: &mut Value, pointer: &str, key: &str, value: Value) {
    at(document, pointer)
        .as_object_mut()
        .expect("an object")
        .insert(key.to_owned(), value);
}

fn push(document: &mut Value, pointer: &str, value: Value) {
    at(document, pointer)
        .as_array_mut()
        .expect("an array")
        .push(value);
}

fn set_version(document: &mut Value, version: &str) {
    *at(document, "/info/version") = json!(version);
}

const CHANNEL: &str = "/components/schemas/Channel";
const CREATE_CHANNEL: &str = "/components/schemas/CreateChannelRequest";

/// A named edit of a document, with the rule the gate must name for it.
type Mutation = (&'static str, &'static str, fn(&mut Value));

/// Each way to break v2.
fn v2_breaks() -> Vec<Mutation> {
    vec![
        ("an operation removed", "operation-removed", |d| {
            remove(d, "/paths/~1api~1v2~1channels", "post")
        }),
        ("a path removed", "path-removed", |d| {
            remove(d, "/paths", "/api/v2/api-keys/{key_id}")
        }),
        ("an operationId changed", "operation-id-changed", |d| {
            *at(d, "/paths/~1api~1v2~1me/get/operationId") = json!("whoAmI")
        }),
        (
            "a required query parameter added",
            "request-parameter-added-required",
            |d| {
                push(
                    d,
                    "/paths/~1api~1v2~1channels/get/parameters",
                    json!({"name": "q", "in": "query", "required": true, "schema": {"type": "string"}}),
                )
            },
        ),
        (
            "a query parameter moved to a header",
            "request-parameter-moved",
            |d| *at(d, "/components/parameters/Limit/in") = json!("header"),
        ),
        ("a parameter's type changed", "request-type-changed", |d| {
            *at(d, "/components/parameters/Limit/schema") = json!({"type": "string"})
        }),
        (
            "a request property made required",
            "request-property-made-required",
            |d| push(d, &format!("{CREATE_CHANNEL}/required"), json!("topic")),
        ),
        (
            "a property removed from a closed request",
            "request-property-removed",
            |d| {
                remove(
                    d,
                    "/components/schemas/RegisterRequest/properties",
                    "full_name",
                );
                *at(d, "/components/schemas/RegisterRequest/required") =
                    json!(["email", "password"]);
            },
        ),
        (
            "a request maxLength lowered",
            "request-constraint-tightened",
            |d| *at(d, &format!("{CREATE_CHANNEL}/properties/name/maxLength")) = json!(40),
        ),
        (
            "a request pattern changed",
            "request-pattern-changed",
            |d| *at(d, &format!("{CREATE_CHANNEL}/properties/topic/pattern")) = json!("^[a-z ]*$"),
        ),
        ("an enum value removed", "request-enum-value-removed", |d| {
            *at(d, "/components/schemas/ChannelVisibility/enum") = json!(["public"])
        }),
        ("an enum value added", "response-enum-value-added", |d| {
            push(
                d,
                "/components/schemas/ChannelVisibility/enum",
                json!("secret"),
            )
        }),
        (
            "nullable removed from a request property",
            "request-nullable-removed",
            |d| {
                *at(
                    d,
                    "/components/schemas/UpdateChannelRequest/properties/topic/nullable",
                ) = json!(false)
            },
        ),
        (
            "a response property renamed",
            "response-property-renamed",
            |d| {
                let name = at(d, &format!("{CHANNEL}/properties"))
                    .as_object_mut()
                    .and_then(|p| p.remove("name"))
                    .expect("name");
                at(d, &format!("{CHANNEL}/properties"))
                    .as_object_mut()
                    .expect("properties")
                    .insert("title".to_owned(), name);
                let required = at(d, &format!("{CHANNEL}/required"));
                *required = json!([
                    "id",
                    "title",
                    "topic",
                    "visibility",
                    "owner_id",
                    "created_at",
                    "updated_at"
                ]);
            },
        ),
        (
            "a response property made optional",
            "response-property-made-optional",
            |d| {
                *at(d, &format!("{CHANNEL}/required")) = json!([
                    "id",
                    "name",
                    "visibility",
                    "owner_id",
                    "created_at",
                    "updated_at"
                ])
            },
        ),
        (
            "a response property made nullable",
            "response-nullable-added",
            |d| {
                set(
                    d,
                    &format!("{CHANNEL}/properties/name"),
                    "nullable",
                    json!(true),
                )
            },
        ),
        (
            "a response property's type changed",
            "response-type-changed",
            |d| *at(d, &format!("{CHANNEL}/properties/created_at")) = json!({"type": "integer"}),
        ),
        (
            "a response maxLength raised",
            "response-constraint-loosened",
            |d| *at(d, &format!("{CHANNEL}/properties/topic/maxLength")) = json!(1000),
        ),
        (
            "the success status changed",
            "response-status-changed",
            |d| {
                let responses = at(d, "/paths/~1api~1v2~1channels/post/responses")
                    .as_object_mut()
                    .expect("responses");
                let created = responses.remove("201").expect("201");
                responses.insert("200".to_owned(), created);
            },
        ),
        (
            "a declared response header removed",
            "response-header-removed",
            |d| {
                remove(
                    d,
                    "/paths/~1api~1v2~1channels~1{channel_id}/get/responses/200/headers",
                    "ETag",
                )
            },
        ),
        (
            "a response media type removed",
            "response-media-type-removed",
            |d| {
                let content =
                    "/paths/~1api~1v2~1channels~1{channel_id}~1events/get/responses/200/content";
                let stream = at(d, content)
                    .as_object_mut()
                    .and_then(|c| c.remove("text/event-stream"))
                    .expect("stream");
                at(d, content)
                    .as_object_mut()
                    .expect("content")
                    .insert("application/x-ndjson".to_owned(), stream);
            },
        ),
        (
            "security required on a public operation",
            "security-added",
            |d| {
                *at(d, "/paths/~1api~1v2~1auth~1register/post/security") =
                    json!([{"bearerAuth": []}])
            },
        ),
        ("a security requirement changed", "security-changed", |d| {
            *at(d, "/paths/~1api~1v2~1me/get/security") = json!([{"apiKeyAuth": []}])
        }),
        (
            "an API key header renamed",
            "security-scheme-changed",
            |d| *at(d, "/components/securitySchemes/apiKeyAuth/name") = json!("X-Key"),
        ),
    ]
}

#[test]
fn the_real_documents_pass_the_gate() {
    let (report, outcome) = contract::gate(&Path::new(REPO).join("openapi")).expect("gate");
    assert_eq!(outcome, Outcome::Compatible, "{report}");
}

#[test]
fn every_break_of_v2_fails_the_gate_with_its_finding() {
    let mut wrong = Vec::new();
    for (name, rule, change) in v2_breaks() {
        let specs = Specs::new();
        specs.edit("v2", |d| {
            change(d);
            set_version(d, "2.1.0");
        });
        let (report, outcome) = specs.gate();
        let named = report
            .lines()
            .any(|line| line.contains("FAIL breaking:") && line.contains(&format!("({rule})")));
        if outcome != Outcome::Breaking || !named {
            wrong.push(format!(
                "{name}: expected a failure naming {rule}:\n{report}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_purely_additive_v2_change_passes_with_a_minor_release() {
    let additive = |d: &mut Value| {
        push(
            d,
            "/paths/~1api~1v2~1channels/get/parameters",
            json!({"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 80}}),
        );
        at(d, &format!("{CHANNEL}/properties"))
            .as_object_mut()
            .expect("properties")
            .insert("archived".to_owned(), json!({"type": "boolean"}));
        at(d, &format!("{CREATE_CHANNEL}/properties/name"))
            .as_object_mut()
            .expect("name")
            .insert("maxLength".to_owned(), json!(120));
    };
    let specs = Specs::new();
    specs.edit("v2", |d| {
        additive(d);
        set_version(d, "2.1.0");
    });
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Compatible, "{report}");

    // A patch release is not enough for an addition.
    let unbumped = Specs::new();
    unbumped.edit("v2", |d| {
        additive(d);
        set_version(d, "2.0.1");
    });
    let (report, outcome) = unbumped.gate();
    assert_eq!(outcome, Outcome::Breaking, "{report}");
    assert!(report.contains("need a minor release"), "{report}");

    let major = Specs::new();
    major.edit("v2", |d| {
        additive(d);
        set_version(d, "3.0.0");
    });
    let (report, outcome) = major.gate();
    assert_eq!(outcome, Outcome::Breaking, "{report}");
    assert!(
        report.contains("a new major version is a new document and path"),
        "{report}"
    );
}

#[test]
fn the_frozen_v1_takes_text_changes_only() {
    let additions: Vec<Mutation> = vec![
        (
            "an optional parameter added",
            "request-parameter-added",
            |d| {
                push(
                    d,
                    "/paths/~1api~1v1~1users/get/parameters",
                    json!({"name": "q", "in": "query", "schema": {"type": "string"}}),
                )
            },
        ),
        ("the Sunset moved earlier", "sunset-earlier", |d| {
            *at(d, "/components/headers/Sunset/x-charter-value") =
                json!("Wed, 30 Dec 2026 23:59:59 GMT")
        }),
        ("a deprecation withdrawn", "operation-reactivated", |d| {
            remove(d, "/paths/~1api~1v1~1me/get", "deprecated")
        }),
    ];
    for (name, rule, change) in additions {
        let specs = Specs::new();
        specs.edit("v1", |d| {
            change(d);
            set_version(d, "1.1.0");
        });
        let (report, outcome) = specs.gate();
        assert_eq!(outcome, Outcome::Breaking, "{name}: {report}");
        assert!(
            report.contains("FAIL frozen:") && report.contains(&format!("({rule})")),
            "{name}: expected a frozen failure naming {rule}:\n{report}"
        );
    }

    let reworded = |d: &mut Value| {
        *at(d, "/paths/~1api~1v1~1me/get/summary") = json!("The caller's own account");
    };
    let patched = Specs::new();
    patched.edit("v1", |d| {
        reworded(d);
        set_version(d, "1.0.1");
    });
    let (report, outcome) = patched.gate();
    assert_eq!(outcome, Outcome::Compatible, "{report}");

    let unbumped = Specs::new();
    unbumped.edit("v1", reworded);
    let (report, outcome) = unbumped.gate();
    assert_eq!(outcome, Outcome::Breaking, "{report}");
    assert!(report.contains("need a patch release"), "{report}");
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Gate", "-c", "user.email=gate@example.com"])
        .args(args)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn a_baseline_cannot_move_together_with_a_break() {
    let specs = Specs::committed();
    // The break and the baseline moved with it, in one commit: the current
    // document equals its baseline, so only the history can tell.
    specs.edit("v2", |d| {
        *at(d, &format!("{CHANNEL}/properties/created_at")) = json!({"type": "integer"});
        set_version(d, "2.1.0");
    });
    specs.copy("v2.yaml", "released/v2.yaml");
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Breaking, "uncommitted: {report}");
    git(&specs.dir, &["commit", "-q", "-am", "Release 2.1.0"]);
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Breaking, "{report}");
    assert!(
        report.contains("the baseline moved with a breaking change in")
            && report.contains("Release 2.1.0")
            && report.contains("(response-type-changed)"),
        "{report}"
    );
}

#[test]
fn a_baseline_moves_with_an_additive_release() {
    let specs = Specs::committed();
    specs.edit("v2", |d| {
        push(
            d,
            "/paths/~1api~1v2~1channels/get/parameters",
            json!({"name": "q", "in": "query", "schema": {"type": "string"}}),
        );
        set_version(d, "2.1.0");
    });
    specs.copy("v2.yaml", "released/v2.yaml");
    // Releasing empties the record of accepted breaks: they are released.
    std::fs::write(
        specs.dir.join("released/v2.accepted.yaml"),
        "accepted: []\n",
    )
    .expect("empty the record");
    git(&specs.dir, &["add", "."]);
    git(&specs.dir, &["commit", "-q", "-m", "Release 2.1.0"]);
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Compatible, "{report}");
}

/// `ChannelEvent` with a variant more, as the v2 current document: built on
/// the released baseline, so that only this change is judged.
fn with_a_new_event_variant(specs: &Specs) {
    specs.copy("released/v2.yaml", "v2.yaml");
    specs.edit("v2", |d| {
        set(
            d,
            "/components/schemas",
            "MessageUpdatedEvent",
            json!({
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"type": "string", "enum": ["message.updated"]}},
            }),
        );
        push(
            d,
            "/components/schemas/ChannelEvent/oneOf",
            json!({"$ref": "#/components/schemas/MessageUpdatedEvent"}),
        );
        set_version(d, "2.1.0");
    });
}

const VARIANT_AT: &str = "$.paths['/api/v2/channels/{channel_id}/events'].get.responses.200.content['text/event-stream'].schema.oneOf[6]";
const OPT_IN: &str = "message.updated reaches only clients that ask for it";

fn accept(specs: &Specs, rule: &str, at: &str) {
    std::fs::write(
        specs.dir.join("released/v2.accepted.yaml"),
        format!(
            "# Accepted breaking changes.\naccepted:\n  - rule: {rule}\n    at: \"{at}\"\n    reason: >-\n      {OPT_IN}\n"
        ),
    )
    .expect("write the record");
}

#[test]
fn a_break_passes_only_as_an_accepted_change_with_its_reason() {
    let specs = Specs::new();
    with_a_new_event_variant(&specs);
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Breaking, "{report}");
    assert!(
        report.contains("FAIL breaking: ") && report.contains(VARIANT_AT),
        "{report}"
    );

    accept(&specs, "response-variant-added", VARIANT_AT);
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Compatible, "{report}");
    assert!(
        report.contains(&format!(
            "  ACCEPTED The 200 response body: variant #/components/schemas/MessageUpdatedEvent added; clients of the old contract cannot decode responses of that shape. (response-variant-added) at {VARIANT_AT}\n    reason: {OPT_IN}\n"
        )),
        "{report}"
    );

    let log = specs.changelog("v2");
    assert!(log.contains("1 breaking (1 accepted)"), "{log}");
    assert!(
        log.contains(&format!("(`{VARIANT_AT}`); accepted: {OPT_IN}\n")),
        "{log}"
    );

    // Accepted is a minor release, never a patch.
    specs.edit("v2", |d| set_version(d, "2.0.1"));
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Breaking, "{report}");
    assert!(report.contains("need a minor release"), "{report}");
}

#[test]
fn an_acceptance_must_match_a_change_and_be_well_formed() {
    let specs = Specs::new();
    with_a_new_event_variant(&specs);
    // Stale: the path of another variant, which nothing added.
    accept(
        &specs,
        "response-variant-added",
        &VARIANT_AT.replace("[6]", "[5]"),
    );
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Breaking, "{report}");
    assert!(report.contains("FAIL accepted: stale entry"), "{report}");
    assert!(report.contains("FAIL breaking: "), "{report}");

    // The baseline released with the change: the record must be emptied.
    specs.copy("v2.yaml", "released/v2.yaml");
    accept(&specs, "response-variant-added", VARIANT_AT);
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Breaking, "{report}");
    assert!(report.contains("FAIL accepted: stale entry"), "{report}");

    // A misspelt key is unreadable, naming the file.
    let record = specs.dir.join("released/v2.accepted.yaml");
    std::fs::write(
        &record,
        format!(
            "accepted:\n  - rule: response-variant-added\n    at: \"{VARIANT_AT}\"\n    resaon: x\n"
        ),
    )
    .expect("write the record");
    let error = contract::gate(&specs.dir).expect_err("an unreadable record");
    assert!(
        error.0.starts_with(&format!("{}: ", record.display())) && error.0.contains("resaon"),
        "{error}"
    );
}

#[test]
fn a_baseline_moves_with_a_change_accepted_before_the_move() {
    let specs = Specs::committed();
    let baseline = std::fs::read(specs.dir.join("released/v2.yaml")).expect("baseline");
    with_a_new_event_variant(&specs);
    accept(&specs, "response-variant-added", VARIANT_AT);
    let release = |specs: &Specs| {
        specs.copy("v2.yaml", "released/v2.yaml");
        std::fs::write(
            specs.dir.join("released/v2.accepted.yaml"),
            "accepted: []\n",
        )
        .expect("empty the record");
    };

    // Accepted and released in one change: the acceptance was never
    // reviewed on its own.
    release(&specs);
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Breaking, "{report}");
    assert!(
        report.contains("the baseline moved with a breaking change in the working copy"),
        "{report}"
    );

    std::fs::write(specs.dir.join("released/v2.yaml"), &baseline).expect("restore");
    accept(&specs, "response-variant-added", VARIANT_AT);
    git(&specs.dir, &["add", "."]);
    git(
        &specs.dir,
        &["commit", "-q", "-m", "Accept message.updated"],
    );
    release(&specs);
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Compatible, "uncommitted: {report}");
    git(&specs.dir, &["commit", "-q", "-am", "Release 2.1.0"]);
    let (report, outcome) = specs.gate();
    assert_eq!(outcome, Outcome::Compatible, "{report}");
}

fn charter(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_charter"))
        .args(args)
        .current_dir(REPO)
        .output()
        .expect("charter runs");
    let code = output.status.code().expect("exit status");
    (code, String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn diff_exits_by_compatibility_in_each_format() {
    let specs = Specs::new();
    specs.edit("v2", |d| {
        set(
            d,
            &format!("{CHANNEL}/properties/name"),
            "nullable",
            json!(true),
        );
    });
    let old = specs.dir.join("released/v2.yaml");
    let new = specs.dir.join("v2.yaml");
    let (old, new) = (old.to_str().expect("path"), new.to_str().expect("path"));

    let (code, text) = charter(&["openapi", "diff", old, old]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("0 breaking, 0 non-breaking, 0 info"),
        "{text}"
    );

    let (code, text) = charter(&["openapi", "diff", old, new]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("response-nullable-added"), "{text}");

    let (code, markdown) = charter(&["openapi", "diff", old, new, "--format", "markdown"]);
    assert_eq!(code, 1);
    assert!(markdown.contains("| breaking |"), "{markdown}");

    let (code, report) = charter(&["openapi", "diff", old, new, "--format", "json"]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&report).expect("JSON report");
    assert!(report["breaking"].as_u64() >= Some(1), "{report}");
    assert!(
        report["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .any(|c| c["rule"] == "response-nullable-added"
                && c["severity"] == "breaking"
                && c["operation"] == "POST /api/v2/channels (createChannel)"
                && c["path"]
                    == "$.paths['/api/v2/channels'].post.responses.201.content['application/json'].schema.properties.name.nullable"),
        "{report}"
    );

    let unreadable = specs.dir.join("broken.yaml");
    std::fs::write(&unreadable, "openapi: [not, a, document").expect("write");
    let (code, _) = charter(&["openapi", "diff", old, unreadable.to_str().expect("path")]);
    assert_eq!(code, 2);
    let (code, _) = charter(&["openapi", "diff", old, "/nonexistent/spec.yaml"]);
    assert_eq!(code, 2);
}

#[test]
fn the_changelog_groups_changes_by_operation_and_severity() {
    let specs = Specs::new();
    specs.edit("v2", |d| {
        push(
            d,
            "/paths/~1api~1v2~1channels/get/parameters",
            json!({"name": "q", "in": "query", "schema": {"type": "string"}}),
        );
        *at(d, "/paths/~1api~1v2~1me/get/summary") = json!("Who am I");
        set_version(d, "2.1.0");
    });
    let log = specs.changelog("v2");
    assert!(
        log.starts_with("# Charter API v2: changes from 2.0.0 to 2.1.0"),
        "{log}"
    );
    let channels = log
        .find("## `GET /api/v2/channels (listChannels)`")
        .expect("listChannels group");
    let me = log
        .find("## `GET /api/v2/me (getMe)`")
        .expect("getMe group");
    assert!(
        log[channels..].contains("### Non-breaking\n\n- Query parameter `q` added as optional."),
        "{log}"
    );
    assert!(
        log[me..].contains("### Info\n\n- `summary` changed."),
        "{log}"
    );
}

#[test]
fn the_bundle_holds_each_version_self_contained_with_its_reference_and_changelog() {
    let out = std::env::temp_dir().join(format!("charter-bundle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let written = contract::bundle::write(&Path::new(REPO).join("openapi"), &out).expect("bundle");
    for version in ["v1", "v2"] {
        let dir = out.join(version);
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("openapi.json")).expect("json"))
                .expect("parses");
        let yaml: Value =
            serde_yaml::from_str(&std::fs::read_to_string(dir.join("openapi.yaml")).expect("yaml"))
                .expect("parses");
        assert_eq!(json, yaml, "{version}: YAML and JSON hold one document");
        assert!(
            !json.to_string().contains("\"$ref\":\"http"),
            "no external references"
        );
        let page = std::fs::read_to_string(dir.join("index.html")).expect("page");
        assert!(page.contains("../assets/swagger-ui-bundle.js") && page.contains("spec.js"));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "{page}"
        );
        let spec = std::fs::read_to_string(dir.join("spec.js")).expect("spec.js");
        assert!(
            spec.starts_with("window.CHARTER_SPEC = {"),
            "the page's document is inlined"
        );
        let log = std::fs::read_to_string(dir.join("CHANGELOG.md")).expect("changelog");
        assert!(
            log.starts_with(&format!("# Charter API {version}: changes from")),
            "{log}"
        );
    }
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css", "reference.js"] {
        let size = std::fs::metadata(out.join("assets").join(asset))
            .expect("asset")
            .len();
        assert!(size > 0, "{asset}");
    }
    assert!(written.lines().count() >= 14, "{written}");
    let _ = std::fs::remove_dir_all(&out);
}
