//! The AWS implementation of `Ops`, through the AWS SDK for Rust.
//!
//! One `SdkConfig` is loaded lazily on the first AWS command (the shell and `check`
//! never touch AWS unless asked), with explicit retries and timeouts; clients per
//! environment add its region and the role it assumes. `ecs.rs` and `cfn.rs` wrap the
//! calls and turn SDK shapes into the watch's snapshots; `deploy.rs` runs the
//! mutating flows on both paths; `describe.rs` the read-only verbs. SDK errors become
//! `OpsError`s here, once.

pub mod budget;
mod cfn;
mod deploy;
mod describe;
mod ecs;
pub mod eldest;
mod logs;
mod poll;
pub mod queue;
mod record;
pub mod stacks;
mod state;
mod tail;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::OnceCell;

use super::{
    AppStatus, EventLine, HistoryEntry, Inspect, Operation, OpsError, OpsResult, Outcome, Plan,
    Progress, Rollouts, StackDetail, StackSummary, Target,
};
use crate::command::value::{StackName, TaskCount, Version};
use crate::config::{self, App, Config, Environment};

/// Clients for one environment (region + credentials).
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub cfn: aws_sdk_cloudformation::Client,
    /// CloudWatch Logs in the environment's region (`logs::client` for another).
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// Task definitions already described in this environment (see `ecs::Revisions`).
    pub revisions: std::sync::Arc<ecs::Revisions>,
    /// Service-deployment records that ended, by ARN (see `ecs::Finished`).
    pub finished: std::sync::Arc<ecs::Finished>,
    /// The shared poll of each cluster that watches run in (see `poll`).
    pub polls: std::sync::Arc<poll::Polls>,
}

/// The ECS service behind an app: cluster and service name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServiceRef {
    pub cluster: String,
    pub service: String,
}

pub struct AwsOps {
    aws: config::Aws,
    /// Names whose values are masked in anything shown (see `Config::looks_secret`).
    secrets: Config,
    watch: config::Watch,
    /// The emulator's per-test account (`x-moto-account-id`); never set against AWS.
    pub(crate) emulator_account: Option<String>,
    base: OnceCell<Result<SdkConfig, String>>,
    clients: tokio::sync::Mutex<HashMap<String, Clients>>,
    /// Stack-managed apps' services, found once from the stack's resources.
    services: Mutex<HashMap<String, ServiceRef>>,
    /// Signs and checks the operation records on services (F19).
    record_key: record::RecordKey,
    /// The shared state table's client, once first needed.
    state_client: OnceCell<aws_sdk_dynamodb::Client>,
    /// The AWS call budget every client here spends (see `budget`).
    budgets: budget::Budgets,
}

impl AwsOps {
    /// From config; `DOCKHAND_EMULATOR_ACCOUNT` selects an account in the local
    /// emulator (development and tests only).
    pub fn new(config: &Config) -> AwsOps {
        Self::with_emulator_account(config, std::env::var("DOCKHAND_EMULATOR_ACCOUNT").ok())
    }

    pub fn with_emulator_account(config: &Config, account: Option<String>) -> AwsOps {
        AwsOps {
            secrets: config.clone(),
            aws: config.aws.clone(),
            watch: config.watch.clone(),
            emulator_account: account,
            base: OnceCell::new(),
            clients: tokio::sync::Mutex::new(HashMap::new()),
            services: Mutex::new(HashMap::new()),
            record_key: record::RecordKey::new(config),
            state_client: OnceCell::new(),
            budgets: budget::Budgets::new(&config.aws),
        }
    }

    /// With a ready `SdkConfig` (credentials, region, endpoint) instead of the
    /// default chain: what tests against the emulator use.
    pub fn from_sdk_config(config: &Config, sdk: SdkConfig, account: Option<String>) -> AwsOps {
        AwsOps {
            secrets: config.clone(),
            aws: config.aws.clone(),
            watch: config.watch.clone(),
            emulator_account: account,
            base: OnceCell::new_with(Some(Ok(sdk))),
            clients: tokio::sync::Mutex::new(HashMap::new()),
            services: Mutex::new(HashMap::new()),
            record_key: record::RecordKey::new(config),
            state_client: OnceCell::new(),
            budgets: budget::Budgets::new(&config.aws),
        }
    }

    pub(crate) async fn base(&self) -> OpsResult<&SdkConfig> {
        let loaded = self
            .base
            .get_or_init(|| async {
                let http = aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https();
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .http_client(http)
                    .retry_config(RetryConfig::standard().with_max_attempts(self.aws.max_attempts))
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(3))
                            .operation_attempt_timeout(self.aws.call_timeout)
                            .build(),
                    );
                if let Some(region) = &self.aws.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                let sdk = loader.load().await;
                if sdk.region().is_none() {
                    return Err(
                        "no AWS region: set AWS_REGION, or `region` under `[aws]` in dockhand.toml"
                            .to_string(),
                    );
                }
                Ok(sdk)
            })
            .await;
        loaded.as_ref().map_err(|e| OpsError::Setup(e.clone()))
    }

    /// Clients in the bot's own account and region (`[aws]`), for the `stack` CLI.
    pub(crate) async fn home_clients(&self) -> OpsResult<Clients> {
        Ok(Clients::new(
            self.base().await?,
            self.emulator_account.as_deref(),
            &self.budgets,
            &budget::account_of(None),
        ))
    }

    /// Clients for an environment: its region, and the role it assumes. Built once
    /// per environment and shared by every operation there.
    pub(crate) async fn clients(&self, env: &Environment) -> OpsResult<Clients> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&env.name) {
            return Ok(c.clone());
        }
        let base = self.base().await?;
        let mut builder = base.to_builder();
        if let Some(region) = &env.region {
            builder = builder.region(Region::new(region.clone()));
        }
        let mut sdk = builder.build();
        if let Some(role) = &env.role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                .session_name("dockhand")
                .configure(&sdk)
                .build()
                .await;
            sdk = sdk
                .to_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build();
        }
        let account = budget::account_of(env.role_arn.as_deref());
        let c = Clients::new(
            &sdk,
            self.emulator_account.as_deref(),
            &self.budgets,
            &account,
        );
        clients.insert(env.name.clone(), c.clone());
        Ok(c)
    }

    /// The shared state table `[state]` names, if any.
    pub(crate) fn state_table(&self) -> Option<&str> {
        self.secrets.state.table.as_deref()
    }

    /// Whether a variable's name looks secret (its value is masked wherever shown).
    pub(crate) fn secret_name(&self, name: &str) -> bool {
        self.secrets.looks_secret(name)
    }

    /// Masks a value whose name looks secret, or that looks like a credential.
    pub(crate) fn shown(&self, name: &str, value: &str) -> String {
        if self.secrets.looks_secret(name) || crate::ops::mask::looks_like_credential(value) {
            "****".to_string()
        } else {
            value.to_string()
        }
    }

    /// A stack output as chat may see it (see `mask::output`).
    pub(crate) fn output_shown(
        &self,
        rules: &config::OutputRules,
        key: &str,
        value: &str,
    ) -> String {
        crate::ops::mask::output(rules, self.secrets.looks_secret(key), key, value)
    }

    pub(crate) fn watch_config(&self) -> &config::Watch {
        &self.watch
    }

    /// The cluster and service of an app; for a stack-managed app, read from the
    /// stack's `AWS::ECS::Service` resource once and remembered.
    pub(crate) async fn service_of(&self, clients: &Clients, app: &App) -> OpsResult<ServiceRef> {
        match &app.target {
            config::Target::Service {
                cluster, service, ..
            } => Ok(ServiceRef {
                cluster: cluster.clone(),
                service: service.clone(),
            }),
            config::Target::Stack { stack, .. } => {
                if let Some(s) = self
                    .services
                    .lock()
                    .expect("services lock")
                    .get(stack.as_str())
                {
                    return Ok(s.clone());
                }
                let found = cfn::stack_service(clients, stack).await?;
                self.services
                    .lock()
                    .expect("services lock")
                    .insert(stack.to_string(), found.clone());
                Ok(found)
            }
        }
    }

    /// Whether AWS answers with the bot's credentials (`/readyz`): the cheapest
    /// call there is, in the default region.
    pub async fn reachable(&self) -> OpsResult<()> {
        self.home_clients()
            .await?
            .ecs
            .list_clusters()
            .max_results(1)
            .send()
            .await
            .map_err(|e| classify("ecs:ListClusters", e))?;
        Ok(())
    }

    /// Forgets a remembered service (it was replaced or deleted).
    pub(crate) fn forget_service(&self, app: &App) {
        if let config::Target::Stack { stack, .. } = &app.target {
            self.services
                .lock()
                .expect("services lock")
                .remove(stack.as_str());
        }
    }
}

/// One service's client config from the shared `SdkConfig` (credentials, region,
/// retries, timeouts), with the interceptors every AWS call gets: the call
/// counter, and the emulator's account header in development and tests. A new
/// service (SQS, CloudWatch Logs, DynamoDB) is one more line where it is used.
macro_rules! service_config {
    ($service:ident, $sdk:expr, $emulator_account:expr) => {{
        let mut config = $service::config::Builder::from($sdk).interceptor(CountCalls);
        if let Some(account) = $emulator_account {
            config = config.interceptor(EmulatorAccount(account.to_string()));
        }
        config.build()
    }};
}

impl Clients {
    /// Each service's client sends through the budget of that service in
    /// `account` and the config's region, shared with every other client there.
    fn new(
        sdk: &SdkConfig,
        emulator_account: Option<&str>,
        budgets: &budget::Budgets,
        account: &str,
    ) -> Clients {
        let (ecs, cfn) = client_configs(sdk, emulator_account);
        let region = sdk.region().map_or("default", |r| r.as_ref());
        macro_rules! budgeted {
            ($config:expr, $service:expr) => {
                match sdk.http_client() {
                    Some(http) => $config
                        .to_builder()
                        .http_client(budgets.client($service, account, region, http))
                        .build(),
                    // No client of its own to wrap: the SDK's default (none is
                    // built in here) would fail the call anyway.
                    None => $config,
                }
            };
        }
        Clients {
            ecs: aws_sdk_ecs::Client::from_conf(budgeted!(ecs, budget::Service::Ecs)),
            cfn: aws_sdk_cloudformation::Client::from_conf(budgeted!(
                cfn,
                budget::Service::CloudFormation
            )),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(budgeted!(
                logs_config(sdk, emulator_account),
                budget::Service::Logs
            )),
            revisions: Default::default(),
            finished: Default::default(),
            polls: Default::default(),
        }
    }
}

/// Service configs for ECS and CloudFormation from one `SdkConfig` (tests build
/// their own clients here too).
pub fn client_configs(
    sdk: &SdkConfig,
    emulator_account: Option<&str>,
) -> (aws_sdk_ecs::Config, aws_sdk_cloudformation::Config) {
    (
        service_config!(aws_sdk_ecs, sdk, emulator_account),
        service_config!(aws_sdk_cloudformation, sdk, emulator_account),
    )
}

/// A DynamoDB client config like the bot's own (tests create the state table with it).
pub fn dynamodb_config(
    sdk: &SdkConfig,
    emulator_account: Option<&str>,
) -> aws_sdk_dynamodb::Config {
    service_config!(aws_sdk_dynamodb, sdk, emulator_account)
}

/// An SQS client config like the bot's own (tests put events on the queue with it).
pub fn sqs_config(sdk: &SdkConfig, emulator_account: Option<&str>) -> aws_sdk_sqs::Config {
    service_config!(aws_sdk_sqs, sdk, emulator_account)
}

/// The CloudWatch Logs client config (tests write log lines with it too). Live
/// Tail's host is the endpoint's with `stream-` in front: an endpoint that is an
/// IP address or `localhost` (the emulator, a local proxy) has no such name, so
/// there the prefix is left off.
pub fn logs_config(
    sdk: &SdkConfig,
    emulator_account: Option<&str>,
) -> aws_sdk_cloudwatchlogs::Config {
    let config = service_config!(aws_sdk_cloudwatchlogs, sdk, emulator_account);
    match sdk.endpoint_url() {
        Some(url) if local_host(url) => config.to_builder().interceptor(NoHostPrefix).build(),
        _ => config,
    }
}

/// Whether a URL's host is an IP address or `localhost`: no DNS name to prefix.
fn local_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split(']')
                .next()
                .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
        }
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Drops an operation's endpoint prefix (Live Tail's `stream-`) before the
/// endpoint is applied.
#[derive(Debug)]
struct NoHostPrefix;

impl Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "NoHostPrefix"
    }

    fn modify_before_retry_loop(
        &self,
        _context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .unset::<aws_smithy_runtime_api::client::endpoint::EndpointPrefix>();
        Ok(())
    }
}

/// Counts every AWS call for `/metrics`, by operation and whether it succeeded:
/// one place sees them all, retries included.
#[derive(Debug)]
pub(crate) struct CountCalls;

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_after_execution(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() {
            // The SDK's own service name (`ECS`, `CloudFormation`): every service
            // is labelled as itself.
            let service = meta.service().to_ascii_lowercase();
            let outcome = match context.output_or_error() {
                Some(Ok(_)) => "ok",
                _ => "error",
            };
            crate::metrics::metrics().aws_call(&format!("{service}:{}", meta.name()), outcome);
        }
        Ok(())
    }
}

/// Sends the emulator's account header, so each test runs in its own account.
#[derive(Debug)]
pub(crate) struct EmulatorAccount(pub(crate) String);

impl Intercept for EmulatorAccount {
    fn name(&self) -> &'static str {
        "EmulatorAccount"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// Turns an SDK error into an `OpsError`. `operation` is the IAM action name
/// (`ecs:UpdateService`), which is what an access-denied answer must name.
///
/// Classified by error code rather than by each operation's modelled variants:
/// CloudFormation models almost none of its errors (`ValidationError`, `AccessDenied`
/// and `Throttling` are all unmodelled), and ECS models access denied on only some
/// operations, so the code is the one field every operation shares.
pub(crate) fn classify<E>(operation: &str, err: SdkError<E, HttpResponse>) -> OpsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let e = classify_error(operation, err);
    let kind = match &e {
        OpsError::AccessDenied { .. } => "access_denied",
        OpsError::Throttled { .. } => "throttled",
        OpsError::NotFound(_) => "not_found",
        OpsError::Rejected(_) => "rejected",
        _ => "other",
    };
    crate::metrics::metrics().aws_error(operation, kind);
    e
}

fn classify_error<E>(operation: &str, err: SdkError<E, HttpResponse>) -> OpsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &err {
        let e = service.err();
        let message = e.message().unwrap_or_default().to_string();
        return match e.code().unwrap_or_default() {
            "AccessDeniedException"
            | "AccessDenied"
            | "UnauthorizedOperation"
            | "UnrecognizedClientException" => OpsError::AccessDenied {
                action: operation.to_string(),
            },
            "ThrottlingException"
            | "Throttling"
            | "TooManyRequestsException"
            | "RequestLimitExceeded" => OpsError::Throttled {
                operation: operation.to_string(),
            },
            "ClusterNotFoundException"
            | "ServiceNotFoundException"
            | "ServiceNotActiveException"
            | "ServiceDeploymentNotFoundException"
            | "ResourceNotFoundException" => OpsError::NotFound(message),
            "ValidationError" if message.contains("does not exist") => OpsError::NotFound(message),
            "ValidationError"
            | "InvalidParameterException"
            | "ClientException"
            | "ConflictException"
            | "UnsupportedFeatureException"
            | "InsufficientCapabilitiesException" => OpsError::Rejected(message),
            // A 5xx is AWS's own trouble (ServerException, ServiceUnavailable...):
            // marked so a watch polls again instead of giving up (see `transient`).
            code if service.raw().status().as_u16() >= 500 => OpsError::Internal {
                operation: operation.to_string(),
                detail: format!(
                    "{SERVER_ERROR} {}: {code}: {message}",
                    service.raw().status().as_u16()
                ),
            },
            code => OpsError::Internal {
                operation: operation.to_string(),
                detail: format!("{code}: {message}"),
            },
        };
    }
    let detail = format!(
        "{}",
        aws_smithy_types::error::display::DisplayErrorContext(&err)
    );
    let lower = detail.to_ascii_lowercase();
    if lower.contains("credential") {
        OpsError::Setup(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run on ECS with a task role"
                .into(),
        )
    } else if matches!(err, SdkError::TimeoutError(_)) {
        OpsError::Internal {
            operation: operation.to_string(),
            detail: format!("{NO_ANSWER}: {detail}"),
        }
    } else if matches!(err, SdkError::DispatchFailure(_)) {
        OpsError::Internal {
            operation: operation.to_string(),
            detail: format!("{UNREACHABLE}: {detail}"),
        }
    } else if let SdkError::ResponseError(r) = &err
        && r.raw().status().as_u16() >= 500
    {
        OpsError::Internal {
            operation: operation.to_string(),
            detail: format!("{SERVER_ERROR} {}: {detail}", r.raw().status().as_u16()),
        }
    } else {
        OpsError::Internal {
            operation: operation.to_string(),
            detail,
        }
    }
}

/// How `classify` begins the detail of errors that say nothing about the request:
/// AWS failing on its side, not answering in time, or not reachable.
const SERVER_ERROR: &str = "AWS answered HTTP";
const NO_ANSWER: &str = "AWS did not answer in time";
const UNREACHABLE: &str = "could not reach AWS";

/// Whether an error is worth the same call again a little later: throttling, a
/// 5xx, a timeout or a connection that failed. A watch keeps polling through these
/// (see `watch::watch`); access denied, a missing service or stack, and anything
/// AWS refused are not transient and end it.
pub(crate) fn transient(e: &OpsError) -> bool {
    match e {
        OpsError::Throttled { .. } => true,
        OpsError::Internal { detail, .. } => {
            detail.starts_with(SERVER_ERROR)
                || detail.starts_with(NO_ANSWER)
                || detail.starts_with(UNREACHABLE)
        }
        _ => false,
    }
}

impl Rollouts for AwsOps {
    async fn deploy(
        &self,
        target: &Target,
        version: &Version,
        progress: Progress,
    ) -> OpsResult<Outcome> {
        deploy::deploy(self, target, version, progress).await
    }

    async fn plan(&self, target: &Target, version: &Version) -> OpsResult<Plan> {
        deploy::plan(self, target, version).await
    }

    async fn rollback(&self, target: &Target, progress: Progress) -> OpsResult<Outcome> {
        deploy::rollback(self, target, progress).await
    }

    async fn decide_hook(&self, target: &Target, go_on: bool) -> OpsResult<String> {
        deploy::decide_hook(self, target, go_on).await
    }

    async fn proceed(&self, target: &Target, progress: Progress) -> OpsResult<Outcome> {
        deploy::proceed(self, target, progress).await
    }

    async fn rollback_plan(&self, target: &Target) -> OpsResult<Plan> {
        deploy::rollback_plan(self, target).await
    }

    async fn scale(
        &self,
        target: &Target,
        count: TaskCount,
        progress: Progress,
    ) -> OpsResult<Outcome> {
        deploy::scale(self, target, count, progress).await
    }

    async fn cancel(&self, target: &Target, progress: Progress) -> OpsResult<Outcome> {
        deploy::cancel(self, target, progress).await
    }

    async fn resume(
        &self,
        target: &Target,
        operation: &Operation,
        progress: Progress,
    ) -> OpsResult<Outcome> {
        deploy::resume(self, target, operation, progress).await
    }

    async fn follow(
        &self,
        target: &Target,
        deployment: &super::Deployment,
        progress: Progress,
    ) -> OpsResult<Outcome> {
        deploy::follow(self, target, deployment, progress).await
    }
}

impl Inspect for AwsOps {
    async fn status(&self, apps: &[(App, Environment)]) -> Vec<AppStatus> {
        describe::status(self, apps).await
    }

    async fn stacks(&self, environments: &[Environment]) -> OpsResult<Vec<StackSummary>> {
        describe::stacks(self, environments).await
    }

    async fn stack(
        &self,
        environment: &Environment,
        name: &StackName,
        outputs: &config::OutputRules,
    ) -> OpsResult<StackDetail> {
        describe::stack(self, environment, name, outputs).await
    }

    async fn events(
        &self,
        app: &App,
        environment: &Environment,
        n: usize,
    ) -> OpsResult<Vec<EventLine>> {
        describe::events(self, app, environment, n).await
    }

    async fn logs(
        &self,
        app: &App,
        environment: &Environment,
        query: &super::LogQuery,
    ) -> OpsResult<super::LogPage> {
        logs::read(self, app, environment, query).await
    }

    type Tail = tail::AwsTail;

    async fn tail(
        &self,
        app: &App,
        environment: &Environment,
        query: &super::TailQuery,
    ) -> OpsResult<tail::AwsTail> {
        tail::start(self, app, environment, query).await
    }

    async fn history(&self, app: &App, environment: &Environment) -> OpsResult<Vec<HistoryEntry>> {
        describe::history(self, app, environment).await
    }

    async fn deployment(&self, target: &Target, id: &str) -> OpsResult<super::Deployment> {
        deploy::deployment(self, target, id).await
    }

    async fn service_name(
        &self,
        app: &App,
        environment: &Environment,
    ) -> OpsResult<(String, String)> {
        deploy::service_name(self, app, environment).await
    }
}
