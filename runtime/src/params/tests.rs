//! Each style's layout, as the table in `styled.rs` gives it, read from a
//! path segment or a header.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::styled::pieces;
use super::*;
use crate::problem::Location;

#[test]
fn every_style_splits_as_the_table_says() {
    let cases: &[(Style, bool, &str, &[&str])] = &[
        (Style::Form, false, "1,2", &["1", "2"]),
        (Style::Form, false, "", &[]),
        (Style::SpaceDelimited, false, "1%202+3", &["1", "2", "3"]),
        (
            Style::PipeDelimited,
            false,
            "1|2%7C3%7c4",
            &["1", "2", "3", "4"],
        ),
        (Style::Simple, false, "1,a%2Cb", &["1", "a%2Cb"]),
        (Style::Label, false, ".1,2", &["1", "2"]),
        (Style::Label, true, ".1.2", &["1", "2"]),
        (Style::Label, false, ".", &[]),
        (Style::Matrix, false, ";ids=1,2", &["1", "2"]),
        (Style::Matrix, false, ";ids", &[]),
        (Style::Matrix, true, ";ids=1;ids=2", &["ids=1", "ids=2"]),
        (Style::Matrix, true, ";r=1;g=2", &["r=1", "g=2"]),
    ];
    for (style, explode, raw, expected) in cases {
        assert_eq!(
            pieces(raw, *style, *explode, "ids").as_deref(),
            Ok(*expected),
            "{style:?} explode={explode} {raw}"
        );
    }
    assert!(pieces("1,2", Style::Label, false, "ids").is_err());
    assert!(pieces(";id=1", Style::Matrix, false, "ids").is_err());
}

/// Reads `rule` from a path whose last segment is `segment`.
fn from_segment<T>(rule: &impl ReadParam<T>, segment: &str) -> Result<Option<T>, Vec<Violation>> {
    let path = format!("/x/{segment}");
    let source = PathSegments::new(&path, &[("id", 0)]);
    let mut violations = Vec::new();
    rule.read(&source, &mut violations).ok_or(violations)
}

#[test]
fn scalars_and_objects_in_label_and_matrix_paths() {
    let scalar =
        ParamRule::new(Location::Path, "id", "id", ParamKind::Integer).style(Style::Matrix);
    assert_eq!(from_segment::<i64>(&scalar, ";id=5"), Ok(Some(5)));
    let refused = from_segment::<i64>(&scalar, "5").err().unwrap_or_default();
    assert_eq!(refused[0].pointer, "#/id");
    assert_eq!(refused[0].detail, "must start with `;id=` (matrix style)");

    static PROPERTIES: [ParamRule; 2] = [
        ParamRule::new(Location::Path, "r", "r", ParamKind::Integer),
        ParamRule::new(Location::Path, "g", "g", ParamKind::Integer),
    ];
    for (style, explode, segment) in [
        (Style::Label, true, ".r=1.g=2"),
        (Style::Label, false, ".r,1,g,2"),
        (Style::Matrix, true, ";r=1;g=2"),
        (Style::Matrix, false, ";id=r,1,g,2"),
        (Style::Simple, true, "r=1,g=2"),
    ] {
        let rule = ObjectRule::new(Location::Path, "id", "id", style, explode, &PROPERTIES);
        assert_eq!(
            from_segment::<Value>(&rule, segment),
            Ok(Some(json!({"r": 1, "g": 2}))),
            "{style:?} explode={explode}"
        );
    }
}

#[test]
fn list_headers_join_their_lines_and_skip_empty_elements() {
    let mut headers = HeaderMap::new();
    for line in ["a, b", ",", "c"] {
        headers.append("x-list", axum::http::HeaderValue::from_static(line));
    }
    let rule = ArrayRule::new(
        ParamRule::new(Location::Header, "X-List", "x-list", ParamKind::String),
        Style::Simple,
        false,
    );
    let mut violations = Vec::new();
    let read: Option<Option<Vec<String>>> = rule.read(&headers, &mut violations);
    assert_eq!(read, Some(Some(vec!["a".into(), "b".into(), "c".into()])));
}
