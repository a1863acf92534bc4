//! moto's standalone server as the local AWS (DynamoDB, S3, SQS).
//!
//! The server runs in a Python child that exits when our end of its stdin
//! closes, so it never outlives the runner or the test process that started it.

use anyhow::{bail, Context};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SERVER: &str = include_str!("../moto_server.py");

/// A running moto server; stopped when dropped (or when this process exits).
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Moto {
    /// Starts moto's server on 127.0.0.1 (`port` 0 picks a free one) and
    /// waits until it serves (about a second).
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn start(port: u16) -> anyhow::Result<Moto> {
        let port = if port == 0 { free_port()? } else { port };
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(SERVER)
            .arg("--with-stdin")
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("starting moto's server with {python} (pip install 'moto[server]')")
            })?;
        let stdout = child.stdout.take().context("moto's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let moto = Moto { endpoint: format!("http://127.0.0.1:{port}"), child };
        if line.trim() != "ready" {
            bail!("moto's server did not start on 127.0.0.1:{port}; is moto[server] installed?");
        }
        // The server thread may take a moment to accept connections.
        for _ in 0..50 {
            if std::net::TcpStream::connect_timeout(
                &([127, 0, 0, 1], port).into(),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                return Ok(moto);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("moto's server on 127.0.0.1:{port} does not accept connections")
    }
}

/// The SDK's HTTP client for a local endpoint: plain HTTP for `http://`
/// (every AWS client built parses its trust store again, a cost the flow
/// tests paid thousands of times), else the deployed functions' client.
pub fn http_client(endpoint: &str) -> aws_sdk_dynamodb::config::SharedHttpClient {
    if endpoint.starts_with("http://") {
        aws_smithy_http_client::Builder::new().build_http()
    } else {
        omnibridge::bootstrap::aws_http_client().expect("AWS_CA_BUNDLE names a PEM file")
    }
}

/// AWS configuration for an emulator at `endpoint`, with static test credentials.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    omnibridge::bootstrap::install_crypto_provider();
    let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client(endpoint));
    // The environment's endpoint is read by the loader itself, which then
    // also honours service-specific ones (AWS_ENDPOINT_URL_DYNAMODB: the test
    // command serves DynamoDB from a moto server of its own).
    let loader = if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|e| e == endpoint) {
        loader
    } else {
        loader.endpoint_url(endpoint)
    };
    loader
        .region(Region::new(region))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "omnibridge-local",
        ))
        .load()
        .await
}
