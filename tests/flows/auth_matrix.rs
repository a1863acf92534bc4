//! Every JWT-protected route of template.yaml refuses a missing, malformed,
//! forged, expired or wrong-algorithm token with the seed's errors, and
//! changes nothing.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use omnibridge::model::now_millis;
use omnibridge_tests::{start_runner, template, JWT_SECRET};
use serde_json::{json, Value};

/// Routes open to their callers without our JWT.
/// Routes without the JWT: they have their own callers' auth, tested with them.
const OPEN: &[&str] = &[
    "authenticate",
    "whatsapp-webhook",
    "facebook-webhook",
    "pipedrive-conversations-list",
    "pipedrive-conversation-get",
    "pipedrive-message-post",
    "pipedrive-message-get",
    "pipedrive-sender-get",
    "pipedrive-templates-list",
    "pipedrive-channel-delete",
    "custom-channel-message",
    "yeahdesk-webhook",
];

#[tokio::test]
async fn when_a_protected_route_gets_a_bad_token_should_refuse_it_with_the_seeds_errors() {
    let (rt, runner) = start_runner(false, |_| {}).await;
    let routes = template().routes().unwrap();
    let now = now_millis() / 1000;
    let claims = |exp: i64| json!({"sub": "yaloUser", "username": "yaloUser", "role": "YALO_ROLE", "iat": now, "exp": exp, "iss": "omnibridge"});
    omnibridge::jwt::install();
    let sign = |alg, claims: &Value, key: &[u8]| {
        jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
    };
    let bad_tokens = [
        sign(Algorithm::HS256, &claims(now - 5), JWT_SECRET.as_bytes()),
        sign(Algorithm::HS384, &claims(now + 600), JWT_SECRET.as_bytes()),
        sign(Algorithm::HS256, &claims(now + 600), b"another-key-that-is-long-enough-0000000"),
        "not.a.jwt".to_owned(),
    ];
    let http = omnibridge_dev::http();
    let mut checked = 0;
    for route in routes.iter().filter(|r| !OPEN.contains(&r.function.as_str())) {
        let path =
            route.path.replace("{userID}", "5217331175599").replace("{provider}", "whatsapp");
        let url = format!("{}{path}", runner.base_url);
        let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
        let req = || http.request(method.clone(), &url).json(&json!({"userID": "5217331175599"}));
        let res = req().send().await.unwrap();
        assert_eq!(res.status(), 401, "{} without a token", route.path);
        assert_eq!(
            res.json::<Value>().await.unwrap(),
            json!({"ErrorDescription": "An Authorization header or an Query Param with name token is required."})
        );
        let res = req().header("authorization", "Basic eWFsbzp4").send().await.unwrap();
        assert_eq!(res.status(), 401, "{} with a Basic header", route.path);
        for t in &bad_tokens {
            let res = req().bearer_auth(t).send().await.unwrap();
            assert_eq!(res.status(), 403, "{} with {t}", route.path);
            assert_eq!(
                res.json::<Value>().await.unwrap(),
                json!({"ErrorDescription": "Invalid Authorization token."})
            );
        }
        checked += 1;
    }
    assert!(checked >= 7, "all protected routes were checked ({checked})");

    // With a valid token, a body that is not JSON gets the seed's 400, never a 5xx.
    let yalo = sign(Algorithm::HS256, &claims(now + 600), JWT_SECRET.as_bytes());
    let mut sf_claims = claims(now + 600);
    sf_claims["role"] = json!("SALESFORCE_ROLE");
    sf_claims["sub"] = json!("salesforceUser");
    sf_claims["username"] = json!("salesforceUser");
    let sf = sign(Algorithm::HS256, &sf_claims, JWT_SECRET.as_bytes());
    for route in routes.iter().filter(|r| {
        r.method == "POST"
            && (!OPEN.contains(&r.function.as_str()) || r.path.starts_with("/v1/integrations/"))
    }) {
        let token = if route.function == "salesforce-events" { &sf } else { &yalo };
        let mut url =
            format!("{}{}", runner.base_url, route.path.replace("{provider}", "whatsapp"));
        if route.path.ends_with("/webhook") {
            // Yalo's webhooks carry the stack's webhook secret, not our token.
            let secret = rt
                .secret(&rt.settings.yalo_webhook_secret, "OMNIBRIDGE_YALO_WEBHOOK_SECRET")
                .await
                .unwrap();
            url.push_str(&format!("?secret={}", secrecy::ExposeSecret::expose_secret(&secret)));
        }
        let res = http.post(&url).bearer_auth(token).body("{not json").send().await.unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        if route.function == "webhook-register" {
            // No body is read: the provider is in the path (and this deployment has no Yalo: 500 as the seed).
            assert_eq!(body, json!({"ErrorDescription": "error register webhook"}));
            continue;
        }
        assert_eq!(status, 400, "{}: {body}", route.path);
        assert!(
            body["ErrorDescription"].as_str().unwrap().starts_with("Invalid payload received : "),
            "{}: {body}",
            route.path
        );
    }
    // Nothing happened: no context, no conversation.
    use omnibridge::ports::{ContextStore, ConversationStore};
    assert!(rt
        .dynamo()
        .unwrap()
        .list_context("5217331175599", now_millis())
        .await
        .unwrap()
        .is_empty());
    assert!(rt
        .dynamo()
        .unwrap()
        .find_open_conversation(omnibridge::model::ChannelKind::Whatsapp, "5217331175599")
        .await
        .unwrap()
        .is_none());
}
