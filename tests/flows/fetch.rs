//! The media fetcher's SSRF guard: forbidden addresses by literal, by DNS
//! name and by redirect; oversize and disallowed types.

use omnibridge::adapters::fetch::{FetchPolicy, Fetcher};
use omnibridge::ports::Fetch;

fn strict() -> Fetcher {
    Fetcher::new(FetchPolicy::new(1024, vec![])).unwrap()
}

fn allowing_loopback(max: u64) -> Fetcher {
    Fetcher::new(FetchPolicy::new(max, vec!["127.0.0.1".parse().unwrap()])).unwrap()
}

async fn refused(f: &Fetcher, url: &str) -> String {
    let err = f.fetch(url).await.expect_err(url);
    assert!(!err.is_retryable(), "{url}: {err}");
    err.chain()
}

/// A local server answering with a redirect, a body of some type, or a large file.
async fn media_server() -> String {
    let app = axum::Router::new()
        .route(
            "/img.jpg",
            axum::routing::get(|| async { ([("content-type", "image/jpeg")], vec![0xFFu8; 100]) }),
        )
        .route(
            "/page.html",
            axum::routing::get(|| async { ([("content-type", "text/html")], "<html>") }),
        )
        .route(
            "/big.pdf",
            axum::routing::get(|| async {
                ([("content-type", "application/pdf")], vec![b'%'; 5000])
            }),
        )
        .route(
            "/to-metadata",
            axum::routing::get(|| async {
                (
                    http::StatusCode::FOUND,
                    [("location", "http://169.254.169.254/latest/meta-data/")],
                )
            }),
        )
        .route(
            "/to-v6",
            axum::routing::get(|| async {
                (http::StatusCode::FOUND, [("location", "http://[::ffff:10.0.0.1]/x")])
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn when_a_url_points_at_a_forbidden_address_should_be_refused_before_connecting() {
    let f = strict();
    for url in [
        "http://127.0.0.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.0.10/",
        "http://[::1]/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "file:///etc/passwd",
        "http://user:pass@example.com/",
    ] {
        let why = refused(&f, url).await;
        assert!(why.contains("media not fetched"), "{url}: {why}");
    }
    // A DNS name that resolves to loopback.
    let why = refused(&f, "http://localhost:9/x").await;
    assert!(why.contains("forbidden address"), "{why}");
}

#[tokio::test]
async fn when_a_redirect_leads_to_a_forbidden_address_should_be_refused() {
    let base = media_server().await;
    let f = allowing_loopback(1024 * 1024);
    assert_eq!(f.fetch(&format!("{base}/img.jpg")).await.unwrap().bytes.len(), 100);
    for path in ["/to-metadata", "/to-v6"] {
        let why = refused(&f, &format!("{base}{path}")).await;
        assert!(why.contains("forbidden"), "{path}: {why}");
    }
    // localhost resolves to an allowed loopback address here, but a strict fetcher refuses the first hop already.
    assert!(strict().fetch(&format!("{base}/img.jpg")).await.is_err());
}

#[tokio::test]
async fn when_media_is_too_large_or_of_a_disallowed_type_should_be_refused() {
    let base = media_server().await;
    let f = allowing_loopback(1000);
    let why = refused(&f, &format!("{base}/big.pdf")).await;
    assert!(why.contains("larger than 1000 bytes"), "{why}");
    let why = refused(&f, &format!("{base}/page.html")).await;
    assert!(why.contains("text/html"), "{why}");
}
