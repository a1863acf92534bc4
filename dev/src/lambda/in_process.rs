//! The in-process host: the function's handler, built in this process on
//! its first invocation (its cold start) with its own settings (from its
//! template environment, nothing else) and its own AWS identity (through
//! the IAM gateway). A failed init is the invocation's error and is tried
//! again on the next one, as Lambda does.

use bytes::Bytes;
use futures::future::BoxFuture;
use omnibridge::bootstrap::Runtime;
use omnibridge::config::{Env, Settings};

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, Semaphore};

use super::{local_concurrency, AwsAccess, Host, Invocation, InvokeError, Outcome};
use crate::registry::{self, Handler};
use crate::template::FunctionSpec;

pub(crate) struct InProcess {
    spec: FunctionSpec,
    aws: AwsAccess,
    handler: OnceCell<Handler>,
    slots: Arc<Semaphore>,
}

impl InProcess {
    pub fn new(spec: FunctionSpec, aws: AwsAccess) -> InProcess {
        InProcess {
            spec,
            aws,
            handler: OnceCell::new(),
            slots: Arc::new(Semaphore::new(local_concurrency())),
        }
    }

    /// The function's cold start: its settings, its AWS clients, its handler.
    async fn init(&self) -> Result<Handler, InvokeError> {
        let env = self.spec.environment.clone();
        let settings = Settings::from_lookup(&Env(move |k: &str| env.get(k).cloned()))
            .map_err(|e| InvokeError::failed("Runtime.InitError", e.chain()))?;
        let aws =
            crate::iam::sdk_config(&self.aws.gateway_url, &self.spec.binary, &self.aws.region);
        let rt = Runtime::with(settings, aws);
        registry::function(&self.spec.binary, &rt)
            .await
            .map_err(|e| InvokeError::failed("Runtime.InitError", format!("{e:#}")))
    }

    fn context(&self, invocation: &Invocation) -> lambda_runtime::Context {
        let mut context = lambda_runtime::Context::default();
        context.request_id = invocation.request_id.clone();
        context.deadline = invocation
            .deadline
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        context.invoked_function_arn = self.spec.arn.clone();
        let config = lambda_runtime::Config {
            function_name: self.spec.name.clone(),
            memory: self.spec.memory_mb as i32,
            version: "$LATEST".into(),
            log_group: format!("/aws/lambda/{}", self.spec.name),
            ..Default::default()
        };
        context.env_config = Arc::new(config);
        context
    }
}

impl Host for InProcess {
    fn invoke(
        &self,
        payload: Bytes,
        invocation: Invocation,
    ) -> BoxFuture<'_, Result<Outcome, InvokeError>> {
        Box::pin(async move {
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|_| InvokeError::failed("Runtime.ExitError", "the host stopped"))?;
            let started = Instant::now();
            let mut cold = false;
            let handler = self
                .handler
                .get_or_try_init(|| {
                    cold = true;
                    self.init()
                })
                .await?
                .clone();
            let init = cold.then(|| started.elapsed());
            let run = handler(payload, self.context(&invocation));
            if invocation.crash {
                // Runs a little, then dies: nothing it would have answered is answered.
                let _ = tokio::time::timeout(Duration::from_millis(30), run).await;
                return Err(InvokeError::failed(
                    "Runtime.ExitError",
                    "RequestId: the runtime crashed in the middle of the invocation (as asked)",
                ));
            }
            let payload = run.await?;
            Ok(Outcome { payload, init, max_memory_mb: None, cpu: None, log_bytes: None })
        })
    }
}
