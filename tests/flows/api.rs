//! The first endpoints of the seed, through the local runner: authenticate,
//! tokens/check and context, with the seed's bodies, codes and errors.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use omnibridge::model::{now_millis, Author, ContextEntry};
use omnibridge::ports::ContextStore;
use omnibridge_tests::{start_runner, JWT_SECRET};
use serde_json::{json, Value};
use std::time::Duration;

use omnibridge_tests::TEST_PASSWORD as PASSWORD;

struct Api {
    base: String,
    http: reqwest::Client,
    _running: omnibridge_dev::runner::Running,
    rt: omnibridge::bootstrap::Runtime,
}

impl Api {
    async fn start() -> Api {
        let (rt, running) = start_runner(false, |_| {}).await;
        Api { base: running.base_url.clone(), http: omnibridge_dev::http(), _running: running, rt }
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn authenticate(&self, body: Value) -> (u16, Value) {
        self.call(self.http.post(format!("{}/v1/authenticate", self.base)).json(&body)).await
    }

    async fn token(&self, username: &str) -> String {
        let (status, body) =
            self.authenticate(json!({"username": username, "password": PASSWORD})).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = bearer {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        self.call(req).await
    }
}

fn error(text: &str) -> Value {
    json!({ "ErrorDescription": text })
}

#[tokio::test]
async fn when_credentials_are_right_should_issue_a_token_that_checks_out() {
    let api = Api::start().await;
    let token = api.token("yaloUser").await;
    assert_eq!(
        api.get("/v1/tokens/check", Some(&token)).await,
        (200, json!({"username": "yaloUser", "role": "YALO_ROLE"}))
    );
    // As the seed says, the token may come as a query parameter instead.
    assert_eq!(
        api.get(&format!("/v1/tokens/check?token={token}"), None).await,
        (200, json!({"username": "yaloUser", "role": "YALO_ROLE"}))
    );
    let sf = api.token("salesforceUser").await;
    assert_eq!(api.get("/v1/tokens/check", Some(&sf)).await.1["role"], "SALESFORCE_ROLE");
}

#[tokio::test]
async fn when_credentials_are_wrong_or_malformed_should_answer_the_seeds_errors() {
    let api = Api::start().await;
    let invalid = (401, error("Invalid credentials."));
    assert_eq!(
        api.authenticate(json!({"username": "yaloUser", "password": "wrong password!"})).await,
        invalid
    );
    assert_eq!(
        api.authenticate(json!({"username": "nobody", "password": PASSWORD})).await,
        invalid
    );
    let (status, body) =
        api.call(api.http.post(format!("{}/v1/authenticate", api.base)).body("{not json")).await;
    assert_eq!(status, 400);
    assert!(
        body["ErrorDescription"].as_str().unwrap().starts_with("Invalid payload received : "),
        "{body}"
    );
    assert_eq!(
        api.authenticate(json!({"username": "yaloUser"})).await,
        (400, error("Error validating payload : Key: 'AuthPayload.Password' Error:Field validation for 'Password' failed on the 'required' tag"))
    );
}

#[tokio::test]
async fn when_token_is_missing_forged_expired_or_of_another_algorithm_should_be_refused() {
    let api = Api::start().await;
    let token = api.token("yaloUser").await;
    let forbidden = (403, error("Invalid Authorization token."));

    assert_eq!(
        api.get("/v1/tokens/check", None).await,
        (401, error("An Authorization header or an Query Param with name token is required."))
    );
    let (status, body) = api
        .call(
            api.http
                .get(format!("{}/v1/tokens/check", api.base))
                .header("Authorization", format!("Token {token}")),
        )
        .await;
    assert_eq!((status, body), (401, error("Invalid Authorization token, header invalid.")));

    // Tampered: the payload changed (role upgraded), signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["username"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], b64.encode(claims.to_string()), parts[2]);
    assert_eq!(api.get("/v1/tokens/check", Some(&tampered)).await, forbidden);

    let now = now_millis() / 1000;
    let claims = |exp: i64| json!({"sub": "yaloUser", "username": "yaloUser", "role": "YALO_ROLE", "iat": now, "exp": exp, "iss": "omnibridge"});
    omnibridge::jwt::install();
    // Expired, though correctly signed.
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(now - 10),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(api.get("/v1/tokens/check", Some(&expired)).await, forbidden);
    // Same key, another HMAC algorithm: refused (only HS256 is ours).
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims(now + 600),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(api.get("/v1/tokens/check", Some(&hs512)).await, forbidden);
    // `alg: none`.
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims(now + 600).to_string())
    );
    assert_eq!(api.get("/v1/tokens/check", Some(&none)).await, forbidden);
    // Signed with another key.
    let foreign = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(now + 600),
        &EncodingKey::from_secret(b"another-secret-of-enough-length-000000"),
    )
    .unwrap();
    assert_eq!(api.get("/v1/tokens/check", Some(&foreign)).await, forbidden);
    assert_eq!(api.get("/v1/tokens/check", Some("garbage")).await, forbidden);
}

#[tokio::test]
async fn when_context_is_asked_should_return_the_unexpired_transcript_oldest_first() {
    let api = Api::start().await;
    let token = api.token("yaloUser").await;
    let store = api.rt.dynamo().unwrap();
    let now = now_millis();
    let day = Duration::from_secs(24 * 3600);
    let mut bot =
        ContextEntry::new("5217331175599", "coppel", "m2", now - 1_000, Author::Bot, now, day)
            .unwrap();
    bot.text = Some("¡Hola! Soy Coppelbot".into());
    let mut user =
        ContextEntry::new("5217331175599", "coppel", "m1", now - 2_000, Author::User, now, day)
            .unwrap();
    user.text = Some("Hola".into());
    let mut image =
        ContextEntry::new("5217331175599", "coppel", "m3", now - 500, Author::User, now, day)
            .unwrap();
    image.url = Some("https://example.test/media/1".into());
    image.mime_type = Some("image/jpeg".into());
    image.caption = Some("foto".into());
    let stale = ContextEntry::new(
        "5217331175599",
        "coppel",
        "m0",
        now - 30 * 3600 * 1000,
        Author::User,
        now - 30 * 3600 * 1000,
        day,
    )
    .unwrap();
    for e in [&bot, &user, &image, &stale] {
        store.append_context(e).await.unwrap();
    }

    let (status, body) = api.get("/v1/context/5217331175599", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let items = body.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["text"], "Hola");
    assert_eq!(items[0]["from"], "user");
    assert_eq!(items[0]["userId"], "5217331175599");
    assert_eq!(items[0]["client"], "coppel");
    assert_eq!(items[0]["timestamp"], json!(now - 2_000));
    assert!(items[0]["ttl"].as_str().unwrap().ends_with('Z'));
    assert_eq!(items[1]["from"], "bot");
    assert_eq!(items[2]["mimeType"], "image/jpeg");
    assert_eq!(items[2]["url"], "https://example.test/media/1");
    assert!(items[2].get("text").is_none());

    assert_eq!(api.get("/v1/context/unknown-user", Some(&token)).await, (200, json!([])));
    // Only the bot side may read transcripts.
    let sf = api.token("salesforceUser").await;
    assert_eq!(
        api.get("/v1/context/5217331175599", Some(&sf)).await,
        (403, error("Invalid Authorization token."))
    );
    assert_eq!(
        api.get("/v1/context/5217331175599", None).await,
        (401, error("An Authorization header or an Query Param with name token is required."))
    );
}

#[tokio::test]
async fn when_a_user_fails_to_log_in_again_and_again_should_brake_that_users_logins() {
    let api = Api::start().await;
    for _ in 0..omnibridge::api::authenticate::MAX_FAILED_LOGINS {
        let (status, _) = api
            .authenticate(json!({"username": "yaloUser", "password": "not the password at all"}))
            .await;
        assert_eq!(status, 401);
    }
    // Now even the right password waits out the window, with the seed's envelope.
    let res = api
        .http
        .post(format!("{}/v1/authenticate", api.base))
        .json(&json!({"username": "yaloUser", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(
        res.headers()["retry-after"],
        omnibridge::api::authenticate::LOCKOUT.as_secs().to_string()
    );
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        error("Too many failed attempts, try again later.")
    );
    // Another user is not braked; a success clears a user's count.
    // (Slowly: API Gateway lets 5 logins a second through.)
    let pause = || tokio::time::sleep(Duration::from_millis(250));
    pause().await;
    let _ = api
        .authenticate(json!({"username": "salesforceUser", "password": "wrong password here"}))
        .await;
    pause().await;
    api.token("salesforceUser").await;
    for _ in 0..omnibridge::api::authenticate::MAX_FAILED_LOGINS - 1 {
        pause().await;
        let _ = api
            .authenticate(json!({"username": "salesforceUser", "password": "wrong password here"}))
            .await;
    }
    pause().await;
    api.token("salesforceUser").await;
}

#[tokio::test]
async fn when_a_tokens_user_is_deleted_or_given_another_role_should_refuse_the_token() {
    use omnibridge::ports::UserStore;
    use omnibridge::services::auth::{ApiUser, Role};
    let api = Api::start().await;
    let store = api.rt.dynamo().unwrap();
    let password = secrecy::SecretString::from(PASSWORD);
    let forbidden = (403, error("Invalid Authorization token."));
    for name in ["leaving", "moving"] {
        store.put_user(&ApiUser::new(name, Role::Yalo, &password).unwrap(), false).await.unwrap();
    }
    let leaving = api.token("leaving").await;
    let moving = api.token("moving").await;
    assert!(store.delete_user("leaving").await.unwrap());
    store
        .put_user(&ApiUser::new("moving", Role::Salesforce, &password).unwrap(), true)
        .await
        .unwrap();
    assert_eq!(api.get("/v1/tokens/check", Some(&leaving)).await, forbidden);
    assert_eq!(api.get("/v1/tokens/check", Some(&moving)).await, forbidden);
    // Every protected route, not only the token check.
    let (status, _) = api
        .call(api.http.get(format!("{}/v1/context/5217331175599", api.base)).bearer_auth(&leaving))
        .await;
    assert_eq!(status, 403);
}
