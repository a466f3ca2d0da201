//! Content negotiation (RFC 9110, section 12.5.1): which of the media types
//! an operation can answer with the request's `Accept` prefers.

use crate::media_type::{essence, within};

/// Of `offered` (in the order the spec lists them), the one `accept` (the
/// request's `Accept` value, if any) prefers: the highest quality, the
/// first offered on a tie; the first offered without an `Accept`. `None`
/// when every offered type is refused (quality 0, or matched by no range).
/// A range answers for the most specific of its matches (`text/*;q=0`
/// refuses text even under `*/*`); unreadable members are skipped.
pub fn preferred<'a>(accept: Option<&str>, offered: &[&'a str]) -> Option<&'a str> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return offered.first().copied();
    };
    let ranges: Vec<(&str, f32)> = accept.split(',').filter_map(member).collect();
    let mut best: Option<(&'a str, f32)> = None;
    for media in offered {
        let quality = ranges
            .iter()
            .filter(|(range, _)| within(range, media) || within(media, range))
            .max_by_key(|(range, _)| specificity(range))
            .map_or(0.0, |(_, quality)| *quality);
        if quality > 0.0 && best.is_none_or(|(_, q)| quality > q) {
            best = Some((media, quality));
        }
    }
    best.map(|(media, _)| media)
}

/// A member of `Accept`: its range and quality (1 without `q`).
fn member(text: &str) -> Option<(&str, f32)> {
    let range = essence(text);
    if !range.contains('/') {
        return None;
    }
    let mut quality = 1.0;
    for parameter in text.split(';').skip(1) {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            quality = value
                .trim()
                .parse::<f32>()
                .ok()
                .filter(|q| (0.0..=1.0).contains(q))?;
        }
    }
    Some((range, quality))
}

/// `*/*` < `type/*` < `type/subtype`.
fn specificity(range: &str) -> u8 {
    match range.strip_suffix("/*") {
        Some("*") => 0,
        Some(_) => 1,
        None => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::preferred;

    const OFFERED: &[&str] = &["application/xml", "application/json"];

    #[test]
    fn without_accept_the_first_offered() {
        assert_eq!(preferred(None, OFFERED), Some("application/xml"));
        assert_eq!(preferred(Some(" "), OFFERED), Some("application/xml"));
        assert_eq!(preferred(Some("*/*"), OFFERED), Some("application/xml"));
    }

    #[test]
    fn the_highest_quality_wins_and_ties_keep_the_spec_order() {
        assert_eq!(
            preferred(Some("application/json"), OFFERED),
            Some("application/json")
        );
        assert_eq!(
            preferred(
                Some("application/xml;q=0.5, application/json;q=0.9"),
                OFFERED
            ),
            Some("application/json")
        );
        assert_eq!(
            preferred(Some("application/json, application/xml"), OFFERED),
            Some("application/xml")
        );
        assert_eq!(
            preferred(Some("APPLICATION/JSON; charset=utf-8"), OFFERED),
            Some("application/json")
        );
    }

    #[test]
    fn the_most_specific_range_decides_and_zero_refuses() {
        assert_eq!(
            preferred(Some("*/*;q=0.1, application/xml;q=0"), OFFERED),
            Some("application/json")
        );
        assert_eq!(preferred(Some("text/*"), OFFERED), None);
        assert_eq!(preferred(Some("application/*;q=0"), OFFERED), None);
        assert_eq!(preferred(Some("image/png"), &["image/*"]), Some("image/*"));
    }

    #[test]
    fn unreadable_members_are_skipped() {
        assert_eq!(
            preferred(
                Some("nonsense, application/json;q=2, application/json;q=0.3"),
                OFFERED
            ),
            Some("application/json")
        );
    }
}
