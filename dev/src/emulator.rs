//! moto's standalone server as the local AWS (DynamoDB, S3, SQS).
//!
//! The server runs in a Python child that exits when our end of its stdin
//! closes, so it never outlives the runner or the test process that started it.

use anyhow::{bail, Context};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SERVER: &str = r#"
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("ready", flush=True)
sys.stdin.read()
server.stop()
"#;

/// A running moto server; stopped when dropped.
pub struct Moto {
    pub endpoint: String,
    _child: Child,
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Moto {
    /// Starts moto's server on 127.0.0.1 (`port` 0 picks a free one).
    pub async fn start(port: u16) -> anyhow::Result<Moto> {
        let port = if port == 0 { free_port()? } else { port };
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(SERVER)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting moto's server with {python} (pip install 'moto[server]')"))?;
        let stdout = child.stdout.take().context("moto's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        match ready {
            Ok(Ok(Some(line))) if line.trim() == "ready" => {}
            _ => bail!("moto's server did not start on 127.0.0.1:{port}; is moto[server] installed?"),
        }
        Ok(Moto { endpoint: format!("http://127.0.0.1:{port}"), _child: child })
    }
}

/// AWS configuration for an emulator at `endpoint`, with static test credentials.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "omnibridge-local"))
        .load()
        .await
}
