//! What is measured: each Charter route of the performance issue's table,
//! the baseline it is compared with, and the target ratio.

use super::servers::Seeded;

/// The server a request goes to.
#[derive(Clone, Copy)]
pub enum On {
    Bare,
    Sqlite,
    Postgres,
}

/// One side of a pair: which server, and the request.
pub struct Route {
    pub on: On,
    pub method: &'static str,
    pub path: String,
    /// Sends the benchmark user's bearer token (Charter only).
    pub auth: bool,
}

/// What is measured: a Charter route, its baseline and the target ratio.
pub struct Plan {
    pub route: &'static str,
    pub baseline: &'static str,
    pub target: Option<f64>,
    pub charter: Route,
    pub bare: Route,
}

fn get(on: On, path: String, auth: bool) -> Route {
    let method = "GET";
    Route {
        on,
        method,
        path,
        auth,
    }
}

fn post(on: On, path: String) -> Route {
    let (method, auth) = ("POST", !matches!(on, On::Bare));
    Route {
        on,
        method,
        path,
        auth,
    }
}

/// The routes of the performance issue's table: name, baseline, target.
pub const TABLE: [(&str, &str, Option<f64>); 8] = [
    ("`GET /healthz`", "bare JSON", Some(0.85)),
    ("`GET /api/v2/me`, SQLite", "bare JSON", None),
    ("`GET /api/v2/users/{id}`, SQLite", "bare JSON", Some(0.40)),
    (
        "`GET /api/v2/users/{id}`, PostgreSQL",
        "bare PG point select",
        Some(1.0),
    ),
    (
        "`GET …/messages?limit=20`, PostgreSQL",
        "bare PG point select",
        Some(0.6),
    ),
    ("`GET …/messages?limit=20`, SQLite", "bare JSON", Some(0.25)),
    ("`POST …/messages`, PostgreSQL", "bare PG insert", Some(0.7)),
    ("`POST …/messages`, SQLite", "bare SQLite insert", Some(0.7)),
];

/// [`TABLE`] with its requests: the Charter route and the baseline's.
pub fn plans(sqlite: &Seeded, pg: &Seeded, bare_user: &str) -> Vec<Plan> {
    let json = || get(On::Bare, "/json".into(), false);
    let point_select = || get(On::Bare, format!("/pg/users/{bare_user}"), false);
    let user = |seeded: &Seeded| format!("/api/v2/users/{}", seeded.user_id);
    let messages = |seeded: &Seeded| format!("/api/v2/channels/{}/messages", seeded.channel_id);
    let list = |seeded| format!("{}?limit=20", messages(seeded));
    let routes = [
        (get(On::Sqlite, "/healthz".into(), false), json()),
        (get(On::Sqlite, "/api/v2/me".into(), true), json()),
        (get(On::Sqlite, user(sqlite), true), json()),
        (get(On::Postgres, user(pg), true), point_select()),
        (get(On::Postgres, list(pg), true), point_select()),
        (get(On::Sqlite, list(sqlite), true), json()),
        (
            post(On::Postgres, messages(pg)),
            post(On::Bare, "/pg/messages".into()),
        ),
        (
            post(On::Sqlite, messages(sqlite)),
            post(On::Bare, "/sqlite/messages".into()),
        ),
    ];
    TABLE
        .into_iter()
        .zip(routes)
        .map(|((route, baseline, target), (charter, bare))| Plan {
            route,
            baseline,
            target,
            charter,
            bare,
        })
        .collect()
}
