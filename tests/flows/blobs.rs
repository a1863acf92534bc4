//! The S3 adapter against moto.

use omnibridge::ports::BlobStore;
use omnibridge_tests::runtime;
use std::time::Duration;

#[tokio::test]
async fn when_attachment_is_stored_should_be_fetched_back_and_over_a_presigned_url() {
    let blobs = runtime().await.blobs().unwrap();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    blobs.put_blob("conv-1/att-1/photo.jpg", bytes.clone(), "image/jpeg").await.unwrap();

    let got = blobs.get_blob("conv-1/att-1/photo.jpg").await.unwrap();
    assert_eq!((got.size, got.content_type.as_str()), (70_000, "image/jpeg"));
    assert_eq!(got.bytes, bytes);

    let url = blobs.presign_get("conv-1/att-1/photo.jpg", Duration::from_secs(300)).await.unwrap();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
}

#[tokio::test]
async fn when_attachment_is_missing_should_be_not_found() {
    let blobs = runtime().await.blobs().unwrap();
    assert!(matches!(blobs.get_blob("nope").await, Err(omnibridge::Error::NotFound(_))));
}

#[tokio::test]
async fn when_an_svg_is_opened_from_its_presigned_link_should_be_downloaded_not_rendered() {
    let blobs = runtime().await.blobs().unwrap();
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    for (key, bytes, content_type, disposition) in [
        ("conv-1/att-2/0", svg, "image/svg+xml", "attachment"),
        ("conv-1/att-3/0", b"jpeg".to_vec(), "image/jpeg", "inline"),
    ] {
        blobs.put_blob(key, bytes, content_type).await.unwrap();
        let url = blobs.presign_get(key, Duration::from_secs(60)).await.unwrap();
        let res = reqwest::get(&url).await.unwrap();
        assert_eq!(res.headers()["content-disposition"], disposition, "{content_type}");
    }
}
