//! Attacks on Charter's credentials, each against the real server over HTTP:
//! forged and tampered access tokens (RFC 8725's pitfalls: `alg: none`,
//! algorithm confusion, wrong key, wrong audience/issuer/type, expiry),
//! session revocation (refresh-token reuse, logout, password change), signing
//! key rotation, password-hash upgrades, account enumeration, the admin role,
//! mass assignment and secrets at rest.
//!
//! Forged tokens start from a genuine one, so that each differs from a token
//! the server accepts in exactly the way under attack; every test also shows
//! that the forging itself is sound (an honestly re-signed copy is accepted).

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{PASSWORD, TOKEN_SECRET, TestServer, TestUser, types};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

const OLD_SECRET: &str = "previous-secret-previous-secret-previous-0";
const NEW_PASSWORD: &str = "analytical engine 1843";

// ---------------------------------------------------------------------------
// Token surgery
// ---------------------------------------------------------------------------

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}

fn part(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).expect("JWT segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
}

/// The decoded header of a JWT.
fn header_of(token: &str) -> Value {
    part(token, 0)
}

/// The decoded claims of a JWT.
fn claims_of(token: &str) -> Value {
    part(token, 1)
}

/// A JWT with exactly this header and these claims, its signature an
/// HMAC-SHA256 under `secret` whatever the header says: what an attacker who
/// knows (or guesses) a key would send.
fn hmac_sha256_jwt(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
    mac.update(input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{input}.{signature}")
}

/// An HS256 token with the given claims and key id, signed with `secret`.
fn hs256(claims: &Value, kid: Option<&str>, secret: &[u8]) -> String {
    let mut header = json!({"alg": "HS256", "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    hmac_sha256_jwt(&header, claims, secret)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn current_kid(token: &str) -> String {
    header_of(token)["kid"]
        .as_str()
        .expect("a kid header")
        .to_owned()
}

/// `GET /api/v2/me` with `token` as the bearer credential.
async fn me_with(server: &TestServer, token: &str) -> reqwest::Response {
    server
        .raw()
        .get(server.url("/api/v2/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /api/v2/me")
}

/// The token works: it reaches the profile of `user`.
async fn accepted(server: &TestServer, token: &str, user: Uuid) {
    let response = me_with(server, token).await;
    assert_eq!(response.status().as_u16(), 200, "token refused: {token}");
    let body: Value = response.json().await.expect("profile");
    assert_eq!(body["id"], user.to_string());
}

/// The token is refused with the 401 problem, which names neither the token
/// nor anything about the keys.
async fn rejected(server: &TestServer, token: &str, what: &str) {
    let response = me_with(server, token).await;
    assert_eq!(response.status().as_u16(), 401, "{what} was accepted");
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"charter\""),
        "{what}"
    );
    let body = response.text().await.expect("body");
    let problem: Value = serde_json::from_str(&body).expect("problem JSON");
    assert_eq!(problem["code"], "UNAUTHENTICATED", "{what}: {body}");
    assert!(
        !body.contains(token),
        "{what}: the problem echoes the token"
    );
    assert!(
        !body.contains(TOKEN_SECRET),
        "{what}: the problem names the secret"
    );
}

async fn login(server: &TestServer, email: &str, password: &str) -> reqwest::Response {
    server
        .raw()
        .post(server.url("/api/v2/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("POST login")
}

/// A new session of an existing user: (access token, refresh token).
async fn session(server: &TestServer, user: &TestUser) -> (String, String) {
    let response = login(server, &user.email, &user.password).await;
    assert_eq!(response.status().as_u16(), 200);
    let pair: Value = response.json().await.expect("token pair");
    (
        pair["access_token"].as_str().expect("access").to_owned(),
        pair["refresh_token"].as_str().expect("refresh").to_owned(),
    )
}

/// `POST /api/v2/auth/refresh`: the new pair, or the status of the refusal.
async fn refresh(server: &TestServer, refresh_token: &str) -> Result<(String, String), u16> {
    let response = server
        .raw()
        .post(server.url("/api/v2/auth/refresh"))
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .expect("POST refresh");
    if response.status().as_u16() != 200 {
        return Err(response.status().as_u16());
    }
    let pair: Value = response.json().await.expect("token pair");
    Ok((
        pair["access_token"].as_str().expect("access").to_owned(),
        pair["refresh_token"].as_str().expect("refresh").to_owned(),
    ))
}

// ---------------------------------------------------------------------------
// Forged access tokens
// ---------------------------------------------------------------------------

contract_test!(honestly_resigned_tokens_are_accepted, |server| {
    // The control for every forgery below: re-signing a genuine token's
    // header and claims with the real secret yields a token that works, so a
    // refusal below is caused by the one thing each test changes.
    let alice = server.user("Alice").await;
    let header = header_of(&alice.access_token);
    let claims = claims_of(&alice.access_token);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(claims["typ"], "access");
    for claim in ["iss", "aud", "sub", "iat", "exp", "jti", "sid"] {
        assert!(claims.get(claim).is_some(), "no {claim} claim in {claims}");
    }
    accepted(
        &server,
        &hmac_sha256_jwt(&header, &claims, TOKEN_SECRET.as_bytes()),
        alice.id,
    )
    .await;
    let mut fresh = claims.clone();
    fresh["jti"] = json!(Uuid::new_v4());
    fresh["iat"] = json!(now());
    accepted(
        &server,
        &hmac_sha256_jwt(&header, &fresh, TOKEN_SECRET.as_bytes()),
        alice.id,
    )
    .await;
});

contract_test!(alg_none_is_rejected, |server| {
    let alice = server.user("Alice").await;
    let claims = claims_of(&alice.access_token);
    let kid = current_kid(&alice.access_token);
    let signature = alice.access_token.rsplit('.').next().expect("signature");
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
        let unsigned = format!("{}.{}.", b64(&header), b64(&claims));
        rejected(&server, &unsigned, &format!("alg {alg}, no signature")).await;
        // Keeping a genuine signature does not help either.
        let with_signature = format!("{}.{}.{signature}", b64(&header), b64(&claims));
        rejected(
            &server,
            &with_signature,
            &format!("alg {alg}, old signature"),
        )
        .await;
        let no_dot = format!("{}.{}", b64(&header), b64(&claims));
        rejected(&server, &no_dot, &format!("alg {alg}, two segments")).await;
    }
    // The v1 surface uses the same verification.
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    let unsigned = format!("{}.{}.", b64(&header), b64(&claims));
    let v1 = server
        .raw()
        .get(server.url("/api/v1/me"))
        .bearer_auth(&unsigned)
        .send()
        .await
        .expect("v1 me");
    assert_eq!(v1.status().as_u16(), 401);
});

contract_test!(algorithm_confusion_is_rejected, |server| {
    let alice = server.user("Alice").await;
    let claims = claims_of(&alice.access_token);
    let kid = current_kid(&alice.access_token);
    let secret = TOKEN_SECRET.as_bytes();

    // An asymmetric algorithm in the header, "verified" with the HMAC secret
    // as if it were a public key: the classic RS/HS confusion.
    for alg in ["RS256", "ES256", "PS256", "EdDSA", "RS512"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
        rejected(
            &server,
            &hmac_sha256_jwt(&header, &claims, secret),
            &format!("{alg} header with an HMAC-SHA256 signature"),
        )
        .await;
    }
    // Other HMAC algorithms, correctly signed with the real secret: the
    // algorithm is pinned to HS256, not chosen by the token.
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let mut header = Header::new(alg);
        header.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret))
            .expect("sign");
        rejected(&server, &token, &format!("{alg:?} with the real secret")).await;
    }
    // Unknown algorithm names and a critical header the server cannot honour.
    let header = json!({"alg": "HS256 ", "typ": "JWT", "kid": kid});
    rejected(
        &server,
        &hmac_sha256_jwt(&header, &claims, secret),
        "alg with a space",
    )
    .await;
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid, "crit": ["exp"]});
    rejected(
        &server,
        &hmac_sha256_jwt(&header, &claims, secret),
        "crit header",
    )
    .await;
});

contract_test!(tokens_signed_with_another_key_are_rejected, |server| {
    let alice = server.user("Alice").await;
    let claims = claims_of(&alice.access_token);
    let kid = current_kid(&alice.access_token);
    let wrong = b"an-attacker-chosen-secret-of-32-bytes-or-more";
    rejected(
        &server,
        &hs256(&claims, Some(&kid), wrong),
        "wrong key, real kid",
    )
    .await;
    let own_kid = charter::auth::key_id(wrong);
    rejected(
        &server,
        &hs256(&claims, Some(&own_kid), wrong),
        "wrong key, its kid",
    )
    .await;
    // A short key, an empty key.
    rejected(&server, &hs256(&claims, Some(&kid), b"secret"), "weak key").await;
    rejected(&server, &hs256(&claims, Some(&kid), b""), "empty key").await;
    // A genuine token with one claim changed keeps its signature: refused.
    let mut escalated = claims.clone();
    escalated["sub"] = json!(Uuid::new_v4());
    let header = alice.access_token.split('.').next().expect("header");
    let signature = alice.access_token.rsplit('.').next().expect("signature");
    let tampered = format!("{header}.{}.{signature}", b64(&escalated));
    rejected(&server, &tampered, "tampered claims").await;
});

contract_test!(unknown_or_missing_kid_is_rejected, |server| {
    let alice = server.user("Alice").await;
    let claims = claims_of(&alice.access_token);
    let secret = TOKEN_SECRET.as_bytes();
    // Signed with the real secret, but naming a key the server does not have.
    for kid in ["000000000000", "", "../../etc/passwd", "' OR 1=1 --"] {
        rejected(
            &server,
            &hs256(&claims, Some(kid), secret),
            &format!("kid {kid:?}"),
        )
        .await;
    }
    rejected(&server, &hs256(&claims, None, secret), "no kid").await;
});

contract_test!(expired_tokens_are_rejected, |server| {
    let alice = server.user("Alice").await;
    let kid = current_kid(&alice.access_token);
    let secret = TOKEN_SECRET.as_bytes();
    let mut claims = claims_of(&alice.access_token);
    claims["iat"] = json!(now() - 4000);
    claims["exp"] = json!(now() - 3600);
    rejected(
        &server,
        &hs256(&claims, Some(&kid), secret),
        "expired an hour ago",
    )
    .await;
    claims["exp"] = json!(now() - 60);
    rejected(
        &server,
        &hs256(&claims, Some(&kid), secret),
        "expired a minute ago",
    )
    .await;
    let mut no_exp = claims_of(&alice.access_token);
    no_exp.as_object_mut().expect("claims").remove("exp");
    rejected(&server, &hs256(&no_exp, Some(&kid), secret), "no exp").await;
    let mut text_exp = claims_of(&alice.access_token);
    text_exp["exp"] = json!("never");
    rejected(
        &server,
        &hs256(&text_exp, Some(&kid), secret),
        "exp as text",
    )
    .await;
});

contract_test!(wrong_audience_or_issuer_is_rejected, |server| {
    let alice = server.user("Alice").await;
    let kid = current_kid(&alice.access_token);
    let secret = TOKEN_SECRET.as_bytes();
    let genuine = claims_of(&alice.access_token);
    let variants: [(&str, &str, Option<Value>); 6] = [
        ("aud", "another API's audience", Some(json!("billing-api"))),
        (
            "aud",
            "an audience list without ours",
            Some(json!(["billing-api"])),
        ),
        ("aud", "no audience", None),
        ("iss", "another issuer", Some(json!("https://evil.example"))),
        ("iss", "an issuer differing in case", Some(json!("Charter"))),
        ("iss", "no issuer", None),
    ];
    for (claim, what, value) in variants {
        let mut claims = genuine.clone();
        match value {
            Some(value) => claims[claim] = value,
            None => {
                claims.as_object_mut().expect("claims").remove(claim);
            }
        }
        rejected(&server, &hs256(&claims, Some(&kid), secret), what).await;
    }
});

contract_test!(tokens_of_another_type_are_rejected, |server| {
    let alice = server.user("Alice").await;
    let kid = current_kid(&alice.access_token);
    let secret = TOKEN_SECRET.as_bytes();
    let genuine = claims_of(&alice.access_token);
    for typ in [json!("refresh"), json!("id"), json!("ACCESS"), json!(null)] {
        let mut claims = genuine.clone();
        claims["typ"] = typ.clone();
        rejected(
            &server,
            &hs256(&claims, Some(&kid), secret),
            &format!("typ {typ}"),
        )
        .await;
    }
    let mut untyped = genuine.clone();
    untyped.as_object_mut().expect("claims").remove("typ");
    rejected(&server, &hs256(&untyped, Some(&kid), secret), "no typ").await;
    // Every access token belongs to a session.
    let mut sessionless = genuine.clone();
    sessionless.as_object_mut().expect("claims").remove("sid");
    rejected(&server, &hs256(&sessionless, Some(&kid), secret), "no sid").await;
});

contract_test!(other_credentials_are_not_bearer_tokens, |server| {
    let alice = server.user("Alice").await;
    rejected(&server, &alice.refresh_token, "a refresh token as bearer").await;
    // The refresh token still works where it belongs.
    let (access, _) = refresh(&server, &alice.refresh_token)
        .await
        .expect("refresh");
    accepted(&server, &access, alice.id).await;
    let key = alice
        .client
        .create_api_key()
        .body(types::CreateApiKeyRequest {
            name: "bot".parse().expect("name"),
            scopes: vec![types::ApiKeyScope::Read],
        })
        .send()
        .await
        .expect("create key")
        .into_inner();
    rejected(&server, &key.key.to_string(), "an API key as bearer").await;
});

contract_test!(a_session_cannot_be_borrowed_by_another_user, |server| {
    // With the real secret, Mallory puts Alice's session id in her own token
    // (or her own session id in a token for Alice): the session must belong
    // to the token's subject.
    let alice = server.user("Alice").await;
    let mallory = server.user("Mallory").await;
    let kid = current_kid(&alice.access_token);
    let secret = TOKEN_SECRET.as_bytes();
    let mut claims = claims_of(&mallory.access_token);
    claims["sid"] = claims_of(&alice.access_token)["sid"].clone();
    rejected(&server, &hs256(&claims, Some(&kid), secret), "Alice's sid").await;
    let mut claims = claims_of(&mallory.access_token);
    claims["sub"] = json!(alice.id);
    rejected(&server, &hs256(&claims, Some(&kid), secret), "Alice's sub").await;
    claims["sid"] = json!(Uuid::new_v4());
    rejected(
        &server,
        &hs256(&claims, Some(&kid), secret),
        "an invented sid",
    )
    .await;
});

// ---------------------------------------------------------------------------
// Sessions: revocation reaches access tokens
// ---------------------------------------------------------------------------

contract_test!(refresh_reuse_revokes_the_whole_family, |server| {
    let alice = server.user("Alice").await;
    let (a0, r0) = (alice.access_token.clone(), alice.refresh_token.clone());
    let (a1, r1) = refresh(&server, &r0).await.expect("first rotation");
    let (a2, r2) = refresh(&server, &r1).await.expect("second rotation");
    assert_eq!(claims_of(&a2)["sid"], claims_of(&a0)["sid"], "one session");
    let (other_access, other_refresh) = session(&server, &alice).await;
    for token in [&a0, &a1, &a2] {
        accepted(&server, token, alice.id).await;
    }

    // r0 was rotated long ago; presenting it again means it leaked.
    assert_eq!(refresh(&server, &r0).await, Err(401));
    // The whole family is revoked: the newest refresh token ...
    assert_eq!(refresh(&server, &r2).await, Err(401));
    assert_eq!(refresh(&server, &r1).await, Err(401));
    // ... and every access token of that session, at once.
    for (token, what) in [(&a0, "a0"), (&a1, "a1"), (&a2, "a2")] {
        rejected(&server, token, what).await;
    }
    // Another session of the same user is unaffected.
    accepted(&server, &other_access, alice.id).await;
    assert!(refresh(&server, &other_refresh).await.is_ok());
});

contract_test!(logout_ends_only_its_own_session, |server| {
    let alice = server.user("Alice").await;
    let (phone_access, phone_refresh) = session(&server, &alice).await;
    accepted(&server, &alice.access_token, alice.id).await;

    let logout = server
        .raw()
        .post(server.url("/api/v2/auth/logout"))
        .bearer_auth(&alice.access_token)
        .json(&json!({"refresh_token": alice.refresh_token}))
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status().as_u16(), 204);
    // Immediately: the session's access token and refresh token are dead.
    rejected(&server, &alice.access_token, "access token after logout").await;
    assert_eq!(refresh(&server, &alice.refresh_token).await, Err(401));
    // The other session keeps working, both tokens.
    accepted(&server, &phone_access, alice.id).await;
    let (renewed, _) = refresh(&server, &phone_refresh)
        .await
        .expect("other session refreshes");
    accepted(&server, &renewed, alice.id).await;
});

contract_test!(password_change_ends_every_session, |server| {
    let alice = server.user("Alice").await;
    let (laptop_access, laptop_refresh) = session(&server, &alice).await;
    let (rotated_access, rotated_refresh) =
        refresh(&server, &laptop_refresh).await.expect("rotate");
    // A v1 login is a session too, without a refresh token.
    let v1 = server
        .raw()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": alice.email, "password": PASSWORD}))
        .send()
        .await
        .expect("v1 login");
    assert_eq!(v1.status().as_u16(), 200);
    let v1_access = v1.json::<Value>().await.expect("v1 token")["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    assert!(
        claims_of(&v1_access)["sid"].is_string(),
        "v1 tokens have a session"
    );
    accepted(&server, &v1_access, alice.id).await;

    let changed = server
        .raw()
        .post(server.url("/api/v2/me/password"))
        .bearer_auth(&alice.access_token)
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .expect("change password");
    assert_eq!(changed.status().as_u16(), 204);

    for (token, what) in [
        (&alice.access_token, "the token that changed the password"),
        (&laptop_access, "another session's access token"),
        (&rotated_access, "a rotated session's access token"),
        (&v1_access, "a v1 access token"),
    ] {
        rejected(&server, token, what).await;
    }
    for token in [&alice.refresh_token, &laptop_refresh, &rotated_refresh] {
        assert_eq!(refresh(&server, token).await, Err(401));
    }
    // Only the new password starts a (working) session.
    assert_eq!(
        login(&server, &alice.email, PASSWORD)
            .await
            .status()
            .as_u16(),
        401
    );
    let fresh = login(&server, &alice.email, NEW_PASSWORD).await;
    assert_eq!(fresh.status().as_u16(), 200);
    let fresh: Value = fresh.json().await.expect("pair");
    accepted(
        &server,
        fresh["access_token"].as_str().expect("access"),
        alice.id,
    )
    .await;
});

// ---------------------------------------------------------------------------
// Signing key rotation
// ---------------------------------------------------------------------------

/// A token for `user`'s live session, as the server would have signed it
/// with `secret` before the rotation: same claims, that key's id.
fn signed_with(user: &TestUser, secret: &str) -> String {
    let mut claims = claims_of(&user.access_token);
    claims["jti"] = json!(Uuid::new_v4());
    let kid = charter::auth::key_id(secret.as_bytes());
    hs256(&claims, Some(&kid), secret.as_bytes())
}

contract_test!(
    previous_secret_still_verifies,
    config = |config: &mut charter::Config| {
        config.token_previous_secrets = vec![OLD_SECRET.to_owned()];
    },
    |server| {
        let alice = server.user("Alice").await;
        // New tokens are signed with the current secret and name its key.
        assert_eq!(
            current_kid(&alice.access_token),
            charter::auth::key_id(TOKEN_SECRET.as_bytes())
        );
        let before_rotation = signed_with(&alice, OLD_SECRET);
        accepted(&server, &before_rotation, alice.id).await;
        // The kid chooses the key: the old signature under the new kid fails.
        let mut claims = claims_of(&alice.access_token);
        claims["jti"] = json!(Uuid::new_v4());
        let mislabelled = hs256(
            &claims,
            Some(&current_kid(&alice.access_token)),
            OLD_SECRET.as_bytes(),
        );
        rejected(&server, &mislabelled, "old key under the current kid").await;
        // A previous key does not extend a revoked session.
        let logout = server
            .raw()
            .post(server.url("/api/v2/auth/logout"))
            .bearer_auth(&alice.access_token)
            .json(&json!({"refresh_token": alice.refresh_token}))
            .send()
            .await
            .expect("logout");
        assert_eq!(logout.status().as_u16(), 204);
        rejected(
            &server,
            &before_rotation,
            "old-key token of an ended session",
        )
        .await;
        // The secrets stay out of the configuration's debug output.
        let shown = format!("{:?}", server.config);
        assert!(
            !shown.contains(OLD_SECRET) && !shown.contains(TOKEN_SECRET),
            "{shown}"
        );
    }
);

contract_test!(retired_secret_is_rejected, |server| {
    // The same token, on a server that no longer lists the old secret.
    assert!(server.config.token_previous_secrets.is_empty());
    let alice = server.user("Alice").await;
    rejected(
        &server,
        &signed_with(&alice, OLD_SECRET),
        "a token signed with a retired secret",
    )
    .await;
    accepted(&server, &alice.access_token, alice.id).await;
});

// ---------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------

async fn stored_hash(server: &TestServer, user: Uuid) -> String {
    let (hash,): (String,) = crate::on_db!(&server.app.store.db, pool =>
        sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
            .bind(user)
            .fetch_one(pool)
            .await)
    .expect("read the hash");
    hash
}

async fn store_hash(server: &TestServer, user: Uuid, hash: &str) {
    crate::on_db!(&server.app.store.db, pool =>
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user)
            .execute(pool)
            .await
            .map(|_| ()))
    .expect("store the hash");
}

fn argon2_hash(algorithm: argon2::Algorithm, params: argon2::Params, password: &str) -> String {
    use argon2::PasswordHasher;
    argon2::Argon2::new(algorithm, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes())
        .expect("hash")
        .to_string()
}

/// (algorithm, version, m, t, p) of a PHC string.
fn hash_parameters(hash: &str) -> (String, Option<u32>, u32, u32, u32) {
    let parsed = argon2::PasswordHash::new(hash).expect("a PHC string");
    let params = argon2::Params::try_from(&parsed).expect("argon2 parameters");
    (
        parsed.algorithm.as_str().to_owned(),
        parsed.version,
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
    )
}

contract_test!(outdated_hashes_are_upgraded_at_login, |server| {
    let alice = server.user("Alice").await;
    let current = stored_hash(&server, alice.id).await;
    assert_eq!(
        hash_parameters(&current),
        ("argon2id".to_owned(), Some(0x13), 19456, 2, 1),
        "new accounts get the OWASP parameters"
    );

    let weak_params = argon2::Params::new(4096, 1, 1, None).expect("params");
    let older_algorithm = argon2::Params::new(19456, 2, 1, None).expect("params");
    for (algorithm, params) in [
        (argon2::Algorithm::Argon2id, weak_params),
        (argon2::Algorithm::Argon2i, older_algorithm),
    ] {
        let weak = argon2_hash(algorithm, params, PASSWORD);
        store_hash(&server, alice.id, &weak).await;

        // A wrong password changes nothing.
        assert_eq!(
            login(&server, &alice.email, "not the password")
                .await
                .status()
                .as_u16(),
            401
        );
        assert_eq!(stored_hash(&server, alice.id).await, weak);

        // The right one logs in and replaces the hash.
        assert_eq!(
            login(&server, &alice.email, PASSWORD)
                .await
                .status()
                .as_u16(),
            200
        );
        let upgraded = stored_hash(&server, alice.id).await;
        assert_ne!(upgraded, weak);
        assert_eq!(
            hash_parameters(&upgraded),
            ("argon2id".to_owned(), Some(0x13), 19456, 2, 1)
        );
        // And it still verifies.
        assert_eq!(
            login(&server, &alice.email, PASSWORD)
                .await
                .status()
                .as_u16(),
            200
        );
        // An up-to-date hash is left alone.
        assert_eq!(stored_hash(&server, alice.id).await, upgraded);
    }
});

/// Status, headers (but `date`) and body of a login attempt sent with a
/// fixed request id, so two failures can be compared byte for byte.
async fn login_probe(
    server: &TestServer,
    path: &str,
    email: &str,
    password: &str,
) -> (u16, Vec<(String, Vec<u8>)>, Vec<u8>) {
    let response = server
        .raw()
        .post(server.url(path))
        .header("x-request-id", "enumeration-probe")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login");
    let status = response.status().as_u16();
    let mut headers: Vec<(String, Vec<u8>)> = response
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str() != "date")
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    headers.sort();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

contract_test!(login_does_not_reveal_which_accounts_exist, |server| {
    let alice = server.user("Alice").await;
    for path in ["/api/v2/auth/login", "/api/v1/auth/login"] {
        let wrong_password = login_probe(&server, path, &alice.email, "not the password").await;
        let unknown_user =
            login_probe(&server, path, "nobody@example.com", "not the password").await;
        let unknown_same_password =
            login_probe(&server, path, "nobody@example.com", PASSWORD).await;
        assert_eq!(wrong_password.0, 401, "{path}");
        // Identical bytes: status, every header but Date, and the body (the
        // request id is the one the probe sent, the instance is the path).
        assert_eq!(wrong_password, unknown_user, "{path}");
        assert_eq!(wrong_password, unknown_same_password, "{path}");
        let body: Value = serde_json::from_slice(&wrong_password.2).expect("problem");
        assert_eq!(body["request_id"], "enumeration-probe");
        assert_eq!(body["instance"], path);
        // An email differing only in case is the same account.
        let upper = login_probe(
            &server,
            path,
            &alice.email.to_uppercase(),
            "not the password",
        )
        .await;
        assert_eq!(wrong_password, upper, "{path}");
    }
});

// ---------------------------------------------------------------------------
// Authorisation
// ---------------------------------------------------------------------------

contract_test!(only_admins_delete_users, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let delete = |token: &str, user: Uuid| {
        server
            .raw()
            .delete(server.url(&format!("/api/v2/users/{user}")))
            .bearer_auth(token)
            .send()
    };
    let denied = delete(&alice.access_token, bob.id).await.expect("delete");
    assert_eq!(denied.status().as_u16(), 403);
    let body: Value = denied.json().await.expect("problem");
    assert_eq!(body["code"], "FORBIDDEN");
    accepted(&server, &bob.access_token, bob.id).await;

    // Promoted the way `charter create-admin` does it, Alice may.
    server.make_admin(&alice.email).await;
    let done = delete(&alice.access_token, bob.id).await.expect("delete");
    assert_eq!(done.status().as_u16(), 204);
    rejected(&server, &bob.access_token, "a deleted user's token").await;
    assert_eq!(
        login(&server, &bob.email, PASSWORD).await.status().as_u16(),
        401
    );

    // A forged role claim means nothing: the role comes from the database.
    let carol = server.user("Carol").await;
    let mut claims = claims_of(&carol.access_token);
    claims["role"] = json!("admin");
    let forged = hs256(
        &claims,
        Some(&current_kid(&carol.access_token)),
        TOKEN_SECRET.as_bytes(),
    );
    let denied = delete(&forged, alice.id).await.expect("delete");
    assert_eq!(denied.status().as_u16(), 403);
});

contract_test!(create_admin_command_creates_or_promotes, |server| {
    // A new account, with the password the command was given.
    let created = charter::users::bootstrap_admin(
        &server.app.store,
        &server.app.passwords,
        &server.app.principals,
        "Root@Example.com",
        "Root",
        || Ok("an admin password".to_owned()),
    )
    .await
    .expect("create");
    assert!(
        matches!(created, charter::users::AdminBootstrap::Created(_)),
        "{created:?}"
    );
    let response = login(&server, "root@example.com", "an admin password").await;
    assert_eq!(response.status().as_u16(), 200);
    let token = response.json::<Value>().await.expect("pair")["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let me: Value = me_with(&server, &token).await.json().await.expect("me");
    assert_eq!(me["role"], "admin");
    // Running it again changes nothing and asks for no password.
    let again = charter::users::bootstrap_admin(
        &server.app.store,
        &server.app.passwords,
        &server.app.principals,
        "root@example.com",
        "Root",
        || anyhow::bail!("no password needed"),
    )
    .await
    .expect("idempotent");
    assert!(
        matches!(again, charter::users::AdminBootstrap::AlreadyAdmin(_)),
        "{again:?}"
    );
    // A password the command refuses leaves no account behind.
    let refused = charter::users::bootstrap_admin(
        &server.app.store,
        &server.app.passwords,
        &server.app.principals,
        "new@example.com",
        "New",
        || anyhow::bail!("no password given"),
    )
    .await;
    assert!(refused.is_err());
    assert_eq!(
        login(&server, "new@example.com", "whatever password")
            .await
            .status()
            .as_u16(),
        401
    );
});

contract_test!(profile_updates_cannot_assign_roles_or_ids, |server| {
    let alice = server.user("Alice").await;
    let patch = |body: Value| {
        server
            .raw()
            .patch(server.url("/api/v2/me"))
            .bearer_auth(&alice.access_token)
            .json(&body)
            .send()
    };
    for body in [
        json!({"role": "admin"}),
        json!({"full_name": "Alice", "role": "admin"}),
        json!({"id": Uuid::new_v4()}),
        json!({"full_name": "Alice", "id": Uuid::new_v4()}),
        json!({"full_name": "Alice", "email": "root@example.com"}),
    ] {
        let response = patch(body.clone()).await.expect("patch");
        assert_eq!(response.status().as_u16(), 422, "{body}");
        let problem: Value = response.json().await.expect("problem");
        assert_eq!(problem["code"], "VALIDATION_FAILED", "{body}");
    }
    let me: Value = me_with(&server, &alice.access_token)
        .await
        .json()
        .await
        .expect("me");
    assert_eq!(me["role"], "user");
    assert_eq!(me["id"], alice.id.to_string());
    assert_eq!(me["full_name"], "Alice");
    // Registration cannot choose a role either.
    let register = server
        .raw()
        .post(server.url("/api/v2/auth/register"))
        .json(&json!({
            "email": "eve@example.com",
            "password": PASSWORD,
            "full_name": "Eve",
            "role": "admin"
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(register.status().as_u16(), 422);
});

// ---------------------------------------------------------------------------
// Secrets at rest
// ---------------------------------------------------------------------------

/// Every cell of a table, as bytes (text as UTF-8, UUIDs and times in their
/// text form), with the column's name. Fails on a column it cannot read, so
/// nothing escapes the check.
async fn table_cells(server: &TestServer, table: &str) -> Vec<(String, Vec<u8>)> {
    use sqlx::{Column, Row};
    let sql = format!("SELECT * FROM {table}");
    crate::on_db!(&server.app.store.db, pool => {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .expect("read the table");
        assert!(!rows.is_empty(), "{table} is empty: the check would be vacuous");
        let mut cells = Vec::new();
        for row in &rows {
            for (i, column) in row.columns().iter().enumerate() {
                let bytes = if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                    v.map(String::into_bytes)
                } else if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    v
                } else if let Ok(v) = row.try_get::<Option<Uuid>, _>(i) {
                    v.map(|v| v.to_string().into_bytes())
                } else if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                    v.map(|v| v.to_string().into_bytes())
                } else if let Ok(v) = row.try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(i) {
                    v.map(|v| v.to_rfc3339().into_bytes())
                } else {
                    panic!("{table}.{} has a type this check cannot read", column.name())
                };
                cells.push((column.name().to_owned(), bytes.unwrap_or_default()));
            }
        }
        cells
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The forms a secret could be stored in without hashing: as sent, its
/// random bytes decoded, and those bytes in hex.
fn plaintext_forms(secret: &str) -> Vec<Vec<u8>> {
    let mut forms = vec![secret.as_bytes().to_vec()];
    let random = secret.strip_prefix("chk_").unwrap_or(secret);
    forms.push(random.as_bytes().to_vec());
    for len in [random.len(), 43] {
        if let Some(decoded) = random
            .get(..len)
            .and_then(|r| URL_SAFE_NO_PAD.decode(r).ok())
        {
            forms.push(charter::auth::hex(&decoded).into_bytes());
            forms.push(decoded);
        }
    }
    forms
}

contract_test!(no_plaintext_secrets_in_the_database, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let mut refresh_tokens = vec![alice.refresh_token.clone(), bob.refresh_token.clone()];
    let (_, rotated) = refresh(&server, &alice.refresh_token)
        .await
        .expect("rotate");
    refresh_tokens.push(rotated);
    let (_, second) = session(&server, &alice).await;
    refresh_tokens.push(second);

    let mut keys = Vec::new();
    for (user, name) in [(&alice, "ci"), (&alice, "backup"), (&bob, "bot")] {
        let created = user
            .client
            .create_api_key()
            .body(types::CreateApiKeyRequest {
                name: name.parse().expect("name"),
                scopes: vec![types::ApiKeyScope::Read, types::ApiKeyScope::Write],
            })
            .send()
            .await
            .expect("create key")
            .into_inner();
        // The key works, so it is a real one.
        let listed = server
            .raw()
            .get(server.url("/api/v2/users"))
            .header("x-api-key", created.key.as_str())
            .send()
            .await
            .expect("use key");
        assert_eq!(listed.status().as_u16(), 200);
        keys.push(created.key.to_string());
    }

    let mut secrets: Vec<&String> = refresh_tokens.iter().collect();
    secrets.extend(&keys);
    for table in ["refresh_tokens", "api_keys", "users"] {
        let cells = table_cells(&server, table).await;
        for secret in &secrets {
            for form in plaintext_forms(secret) {
                for (column, value) in &cells {
                    assert!(
                        !contains(value, &form),
                        "{table}.{column} holds a secret in plaintext"
                    );
                }
            }
        }
        // Nor is any password stored as such.
        for (column, value) in &cells {
            assert!(
                !contains(value, PASSWORD.as_bytes()),
                "{table}.{column} holds a password"
            );
        }
    }
    // What the key table keeps to recognise a key is a short prefix only.
    let prefixes: Vec<_> = table_cells(&server, "api_keys")
        .await
        .into_iter()
        .filter(|(column, _)| column == "prefix")
        .collect();
    assert_eq!(prefixes.len(), keys.len());
    for (_, prefix) in prefixes {
        assert!(prefix.len() <= 12, "prefix of {} bytes", prefix.len());
    }
});
