//! Test harness for the AWS tests: one emulator per test run, one account per test,
//! and the real pipeline (dispatcher + `AwsOps` + the AWS SDK over HTTP) in between.
//!
//! The emulator is started once by `scripts/with-emulator.sh` (what `make test`
//! runs), which exports its URL as `DOCKHAND_TEST_EMULATOR`. Each test takes a fresh
//! random account (the `x-moto-account-id` header), so tests run in parallel without
//! seeing each other's stacks, services, faults or call logs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::SdkConfig;
use aws_types::region::Region;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use dockhand::adapters::shell::draw;
use dockhand::catalog::Catalog;
use dockhand::config::Config;
use dockhand::dispatch::{Dispatcher, Handled};
use dockhand::message::Outbound;
use dockhand::message::{Author, Inbound, Origin, Platform, Via};
use dockhand::ops::aws::{AwsOps, client_configs};

/// Values that must never reach a chat reply or a log line. Every bot in these tests
/// has the tokens, every service-managed app carries the API token in its task
/// definition, and every reply and log line of the whole suite is scanned for all.
pub const SECRETS: [&str; 5] = [
    "slack-bot-token-dockhand-test",
    "slack-app-token-dockhand-test",
    "discord-test-token-MTIz.abc",
    "sk-live-worker-api-token-42",
    "hunter2-ledger-password",
];

/// Panics if `text` (a reply, or the log so far) contains a secret.
pub fn assert_no_secret(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "a secret leaked ({s}) in:\n{text}");
    }
}

/// Everything every test logged, at debug level for dockhand: scanned for secrets.
static LOG: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter("dockhand=debug")
            .with_writer(|| LogWriter)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// A memory figure of this process in KiB from /proc (Linux): `VmRSS` now,
/// `VmHWM` at its peak. For the benchmarks, which include this file.
#[allow(dead_code)]
pub fn proc_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What dockhand logged so far in this test process (JSON lines, every test's).
pub fn logs() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned()
}

pub fn scan_logs() {
    let log = LOG.lock().unwrap();
    assert_no_secret(&String::from_utf8_lossy(&log));
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A local port nothing listens on (it was free a moment ago): for a server the
/// test starts later, or for a connection that must be refused.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The emulator's URL. Tests that need AWS fail with the way to run them.
pub fn emulator_url() -> String {
    std::env::var("DOCKHAND_TEST_EMULATOR").unwrap_or_else(|_| {
        panic!(
            "these tests need the local AWS emulator: run `make test`, or \
             `scripts/with-emulator.sh cargo test --test tests aws::`"
        )
    })
}

/// One test's corner of the emulator: a fresh account with its own resources,
/// faults and call log.
pub struct Account {
    pub id: String,
    pub url: String,
}

impl Account {
    pub fn new() -> Account {
        // Unique per process and per test, without a random-number crate.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let seed =
            (u64::from(std::process::id()) * 1_000_003 + nanos / 1000 + n * 7919) % 900_000_000_000;
        let account = Account {
            id: format!("{}", 100_000_000_000 + seed),
            url: emulator_url(),
        };
        account.control(
            "POST",
            "/_dockhand/config",
            Some(json!({ "rollout_seconds": 0.6 })),
        );
        account
    }

    /// A call to the emulator's control API, in this account.
    pub fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let address = self.url.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = TcpStream::connect(address).expect("connect to the emulator");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nx-moto-account-id: {}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.id,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read the emulator's answer");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "{method} {path}: {head}\n{body}"
        );
        serde_json::from_str(body).unwrap_or(Value::String(body.to_string()))
    }

    pub fn rollout_seconds(&self, seconds: f64) {
        self.control(
            "POST",
            "/_dockhand/config",
            Some(json!({ "rollout_seconds": seconds })),
        );
    }

    pub fn fault(&self, fault: Value) {
        self.control("POST", "/_dockhand/faults", Some(fault));
    }

    /// The AWS operations this account called, in order (`DescribeServices`, ...).
    pub fn calls(&self) -> Vec<String> {
        let calls = self.control("GET", "/_dockhand/calls", None);
        calls
            .as_array()
            .expect("a list of calls")
            .iter()
            .map(|c| c["operation"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn forget_calls(&self) {
        self.control("DELETE", "/_dockhand/calls", None);
    }

    pub fn count(&self, operation: &str) -> usize {
        self.calls().iter().filter(|c| *c == operation).count()
    }

    /// SDK configuration for the emulator: dummy credentials, one attempt per call
    /// (an unimplemented operation answers 500, which must not be retried).
    pub async fn sdk(&self) -> SdkConfig {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "emulator", "emulator", None, None, "tests",
            )))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .load()
            .await
    }

    /// SDK clients in this account, for setting up resources.
    pub async fn clients(&self) -> (aws_sdk_ecs::Client, aws_sdk_cloudformation::Client) {
        let (ecs, cfn) = client_configs(&self.sdk().await, Some(&self.id));
        (
            aws_sdk_ecs::Client::from_conf(ecs),
            aws_sdk_cloudformation::Client::from_conf(cfn),
        )
    }
}

/// The awslogs driver as deploy/service.yaml configures it: group
/// `/dockhand/<name>`, streams `<name>/<container>/<task id>`.
pub fn awslogs(name: &str) -> aws_sdk_ecs::types::LogConfiguration {
    aws_sdk_ecs::types::LogConfiguration::builder()
        .log_driver(aws_sdk_ecs::types::LogDriver::Awslogs)
        .options("awslogs-group", format!("/dockhand/{name}"))
        .options("awslogs-region", "us-east-1")
        .options("awslogs-stream-prefix", name)
        .build()
        .unwrap()
}

/// What a test builds in its account before talking to the bot.
pub struct World {
    pub account: Account,
    pub ecs: aws_sdk_ecs::Client,
    pub cfn: aws_sdk_cloudformation::Client,
}

impl World {
    pub async fn new() -> World {
        let account = Account::new();
        let (ecs, cfn) = account.clients().await;
        World { account, ecs, cfn }
    }

    pub async fn cluster(&self, name: &str) {
        self.ecs
            .create_cluster()
            .cluster_name(name)
            .send()
            .await
            .expect("create cluster");
    }

    /// A service-managed app: a task definition `family` with container `name`
    /// running `image`, and a service of `count` tasks. Returns the revision ARN.
    pub async fn service(&self, cluster: &str, name: &str, image: &str, count: i32) -> String {
        use aws_sdk_ecs::types::{
            ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, KeyValuePair,
        };
        let td = self
            .ecs
            .register_task_definition()
            .family(name)
            .container_definitions(
                ContainerDefinition::builder()
                    .name(name)
                    .image(image)
                    .memory(256)
                    .essential(true)
                    .log_configuration(awslogs(name))
                    .environment(
                        KeyValuePair::builder()
                            .name("LOG_LEVEL")
                            .value("info")
                            .build(),
                    )
                    .environment(
                        KeyValuePair::builder()
                            .name("API_TOKEN")
                            .value(SECRETS[3])
                            .build(),
                    )
                    .secrets(
                        aws_sdk_ecs::types::Secret::builder()
                            .name("DB_PASSWORD")
                            .value_from(
                                "arn:aws:secretsmanager:us-east-1:123456789012:secret:worker-db",
                            )
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("register task definition");
        let arn = td
            .task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_string();
        self.ecs
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition(&arn)
            .desired_count(count)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .deployment_circuit_breaker(
                        DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(true)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("create service");
        arn
    }

    /// The usual service-managed app: `worker` v41 with `count` tasks in cluster
    /// `apps`, settled.
    pub async fn worker(&self, count: i32) {
        self.cluster("apps").await;
        self.service("apps", "worker", "public.ecr.aws/example/worker:v41", count)
            .await;
        self.settle("apps", "worker").await;
    }

    /// A stack-managed app from `deploy/service.yaml`, in a cluster of its own.
    pub async fn stack(&self, name: &str, version: &str, count: i32) {
        use aws_sdk_cloudformation::types::{Capability, Parameter};
        let cluster = format!("{name}-cluster");
        self.cluster(&cluster).await;
        let p = |k: &str, v: &str| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        };
        self.cfn
            .create_stack()
            .stack_name(name)
            .template_body(std::fs::read_to_string(root().join("deploy/service.yaml")).unwrap())
            .parameters(p("ServiceName", name))
            .parameters(p("ClusterName", &cluster))
            .parameters(p("Image", &format!("public.ecr.aws/example/{name}")))
            .parameters(p("Version", version))
            .parameters(p("DesiredCount", &count.to_string()))
            .parameters(p("ContainerPort", "8080"))
            .parameters(p("LogGroupName", &format!("/dockhand/{name}")))
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("create stack");
    }

    /// Waits (by polling the emulator, which advances on each request) until every
    /// rollout in the service is complete.
    pub async fn settle(&self, cluster: &str, service: &str) {
        for _ in 0..200 {
            let out = self
                .ecs
                .describe_services()
                .cluster(cluster)
                .services(service)
                .send()
                .await
                .unwrap();
            let s = &out.services()[0];
            let done = s.deployments().len() == 1
                && s.deployments()[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED");
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{service} did not settle");
    }

    /// The service's primary task definition ARN.
    pub async fn primary(&self, cluster: &str, service: &str) -> String {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .unwrap();
        out.services()[0].task_definition().unwrap().to_string()
    }

    /// Gives a service a deployment configuration (a strategy, bake times): the
    /// emulator merges it into the service's, and no deployment starts.
    pub async fn deployment_configuration(
        &self,
        cluster: &str,
        service: &str,
        config: aws_sdk_ecs::types::DeploymentConfiguration,
    ) {
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .deployment_configuration(config)
            .send()
            .await
            .expect("set the deployment configuration");
    }

    /// The service's newest ECS service-deployment record, described.
    pub async fn newest_deployment(
        &self,
        cluster: &str,
        service: &str,
    ) -> Option<aws_sdk_ecs::types::ServiceDeployment> {
        let list = self
            .ecs
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .send()
            .await
            .unwrap();
        let arn = list
            .service_deployments()
            .first()?
            .service_deployment_arn()?;
        let out = self
            .ecs
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .send()
            .await
            .unwrap();
        out.service_deployments().first().cloned()
    }

    /// The status of the service's newest ECS service-deployment record.
    pub async fn deployment_status(&self, cluster: &str, service: &str) -> String {
        self.newest_deployment(cluster, service)
            .await
            .and_then(|d| d.status().map(|s| s.as_str().to_string()))
            .unwrap_or_default()
    }

    pub async fn image_of(&self, task_definition: &str) -> String {
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .unwrap();
        out.task_definition().unwrap().container_definitions()[0]
            .image()
            .unwrap()
            .to_string()
    }

    pub async fn stack_parameter(&self, stack: &str, key: &str) -> String {
        let out = self
            .cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .unwrap();
        out.stacks()[0]
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(key))
            .and_then(|p| p.parameter_value())
            .unwrap_or_default()
            .to_string()
    }

    /// A bot over this account, with `config` (TOML; `commands_dir` is filled in).
    pub async fn bot(&self, config: &str) -> Bot {
        // Every token is given, so the secret scans cover them all; Discord
        // with a token needs its servers listed.
        let discord = if config.contains("[discord]") {
            ""
        } else {
            "\n[discord]\nguilds = [1]\n"
        };
        let text = format!(
            "commands_dir = {:?}\n{config}{discord}",
            root().join("commands")
        );
        let tokens = |name: &str| match name {
            "SLACK_BOT_TOKEN" => Some(SECRETS[0].to_string()),
            "SLACK_APP_TOKEN" => Some(SECRETS[1].to_string()),
            "DISCORD_TOKEN" => Some(SECRETS[2].to_string()),
            _ => None,
        };
        let config = Config::parse("test.toml", &text, &tokens, dockhand::verbs::NAMES)
            .unwrap_or_else(|e| panic!("{e:?}"));
        Bot::new(config, &self.account).await
    }
}

/// The dispatcher with `AwsOps` behind it, and the replies it wrote.
pub struct Bot {
    pub dispatcher: Dispatcher<AwsOps>,
    outbox: mpsc::UnboundedSender<Outbound>,
    replies: mpsc::UnboundedReceiver<Outbound>,
}

impl Bot {
    /// The next reply the bot sends, if one comes within `within`.
    #[allow(dead_code)] // for examples/notify_bench.rs; the tests wait with `until`
    pub async fn recv(&mut self, within: Duration) -> Option<Outbound> {
        tokio::time::timeout(within, self.replies.recv())
            .await
            .ok()
            .flatten()
    }

    pub async fn new(config: Config, account: &Account) -> Bot {
        capture_logs();
        let catalog = Catalog::load(&config.commands_dir).unwrap_or_else(|e| panic!("{e:?}"));
        let ops = AwsOps::from_sdk_config(&config, account.sdk().await, Some(account.id.clone()));
        let dispatcher = Dispatcher::new(config, catalog, ops);
        let (outbox, replies) = mpsc::unbounded_channel();
        Bot {
            dispatcher,
            outbox,
            replies,
        }
    }

    /// What the supervisor (`dockhand::app`) gives an adapter: a router with this
    /// platform's route, and the operations a previous instance left on it resumed.
    pub fn wiring(
        &self,
        platform: Platform,
        stop: tokio_util::sync::CancellationToken,
    ) -> dockhand::adapters::Wiring {
        let mut router = dockhand::adapters::Router::new();
        let replies = router.route(platform);
        let (outbox, routed) = mpsc::unbounded_channel();
        tokio::spawn(router.run(routed));
        self.dispatcher.recover(platform, &outbox);
        dockhand::adapters::Wiring {
            handler: std::sync::Arc::new(self.dispatcher.clone()),
            outbox,
            replies,
            health: dockhand::health::Health::new(),
            stop,
            replicas: std::sync::Arc::new(self.dispatcher.clone()),
        }
    }

    /// Sends a message as `alice` in `#ops` and returns what the bot answered at once
    /// (`None` when the work was spawned).
    pub fn send(&self, text: &str) -> Option<String> {
        self.send_as("alice", text)
    }

    pub fn send_as(&self, user: &str, text: &str) -> Option<String> {
        let (origin, author) = in_ops(user);
        let inbound = Inbound {
            origin: &origin,
            author: &author,
            via: Via::Message,
            text,
        };
        match self.dispatcher.handle(&inbound, &self.outbox) {
            Handled::Ignored => Some(String::new()),
            Handled::Reply(reply) => {
                let mut out = Vec::new();
                draw(&reply, &mut out).unwrap();
                let out = String::from_utf8(out).unwrap();
                assert_no_secret(&out);
                Some(out)
            }
            Handled::Started => None,
        }
    }

    /// Waits for every spawned operation to finish and returns everything it wrote,
    /// drawn the way the shell draws it (edits as `  ~ `, thread posts as `  └ `).
    /// What a restarted bot does once its adapter is up: resume recorded operations.
    pub fn recover(&self) {
        self.dispatcher.recover(Platform::Shell, &self.outbox);
    }

    /// What a replica does every 15 s with shared state: resume the operations
    /// whose replica stopped renewing their claim.
    pub fn adopt(&self) {
        self.dispatcher.adopt(&[Platform::Shell], &self.outbox);
    }

    pub async fn finish(&mut self) -> String {
        let tasks = self.dispatcher.tasks();
        tasks.close();
        tokio::time::timeout(Duration::from_secs(120), tasks.wait())
            .await
            .expect("operations finished within 2 minutes");
        tasks.reopen();
        let mut out = Vec::new();
        while let Ok(o) = self.replies.try_recv() {
            draw(&o.reply, &mut out).unwrap();
        }
        let out = String::from_utf8(out).unwrap();
        assert_no_secret(&out);
        scan_logs();
        out
    }

    /// Sends a command that asks for a confirmation, and confirms it with the code
    /// from the prompt; the operation is then running.
    pub fn confirmed(&self, text: &str) {
        let prompt = self.send(text).expect("a confirmation prompt");
        let at = prompt
            .find("confirm ")
            .unwrap_or_else(|| panic!("no code in {prompt:?}"))
            + "confirm ".len();
        let code: String = prompt[at..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        assert!(
            self.send(&format!("!confirm {code}")).is_none(),
            "the confirmed operation starts"
        );
    }

    /// A click by `user` on a button whose command is `command`, as the Slack and
    /// Discord adapters hand it to dispatch.
    pub fn click_as(&self, user: &str, command: &str) -> dockhand::dispatch::Click {
        let (origin, author) = in_ops(user);
        dockhand::adapters::click(&self.dispatcher, &origin, &author, command, &self.outbox)
    }

    /// Sends a command and returns its whole answer: the immediate reply, or every
    /// message the spawned operation wrote once it finished.
    pub async fn ask(&mut self, text: &str) -> String {
        self.ask_as("alice", text).await
    }

    /// `ask` as `user` in `#ops`.
    pub async fn ask_as(&mut self, user: &str, text: &str) -> String {
        match self.send_as(user, text) {
            Some(reply) => reply,
            None => self.finish().await,
        }
    }
}

/// The notification plumbing the self-hosting template makes, in miniature: a
/// queue (with a dead-letter queue after 3 receives, and a short visibility
/// timeout so redelivery is quick) fed by one EventBridge rule for ECS,
/// CloudFormation and CloudWatch events, all created through CloudFormation.
const EVENTS_TEMPLATE: &str = r#"
Resources:
  Dead:
    Type: AWS::SQS::Queue
  Events:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 2
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dead.Arn
        maxReceiveCount: 3
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.ecs, aws.cloudformation, aws.cloudwatch]
      Targets:
        - Arn: !GetAtt Events.Arn
          Id: dockhand
Outputs:
  Url:
    Value: !Ref Events
  DeadUrl:
    Value: !Ref Dead
"#;

impl World {
    /// The events queue and its rule; returns the queue's and the dead-letter queue's URLs.
    pub async fn events_queue(&self) -> (String, String) {
        let out = self
            .cfn
            .create_stack()
            .stack_name("events")
            .template_body(EVENTS_TEMPLATE)
            .send()
            .await
            .expect("create the events stack");
        let id = out.stack_id().unwrap_or("events").to_string();
        let d = self
            .cfn
            .describe_stacks()
            .stack_name(id)
            .send()
            .await
            .expect("describe the events stack");
        let output = |key: &str| {
            d.stacks()[0]
                .outputs()
                .iter()
                .find(|o| o.output_key() == Some(key))
                .and_then(|o| o.output_value())
                .unwrap_or_else(|| panic!("no output {key}"))
                .to_string()
        };
        (output("Url"), output("DeadUrl"))
    }

    /// Makes the service's next deployments BLUE_GREEN with a PAUSE hook after its
    /// new tasks scaled up (timing out after `minutes` scaled minutes, ROLLBACK).
    pub async fn pause_after_scale_up(&self, cluster: &str, service: &str, minutes: i32) {
        use aws_sdk_ecs::types::{
            DeploymentConfiguration, DeploymentLifecycleHook, DeploymentLifecycleHookStage,
            DeploymentLifecycleHookTargetType, DeploymentLifecycleHookTimeoutConfiguration,
            DeploymentStrategy,
        };
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .strategy(DeploymentStrategy::BlueGreen)
                    .lifecycle_hooks(
                        DeploymentLifecycleHook::builder()
                            .target_type(DeploymentLifecycleHookTargetType::Pause)
                            .lifecycle_stages(DeploymentLifecycleHookStage::PostScaleUp)
                            .timeout_configuration(
                                DeploymentLifecycleHookTimeoutConfiguration::builder()
                                    .timeout_in_minutes(minutes)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("a PAUSE hook on the service");
    }

    /// Registers a revision of `family` with one container named like it,
    /// running `image`; returns its ARN.
    pub async fn revision(&self, family: &str, image: &str) -> String {
        use aws_sdk_ecs::types::ContainerDefinition;
        let td = self
            .ecs
            .register_task_definition()
            .family(family)
            .container_definitions(
                ContainerDefinition::builder()
                    .name(family)
                    .image(image)
                    .memory(256)
                    .essential(true)
                    .log_configuration(awslogs(family))
                    .build(),
            )
            .send()
            .await
            .expect("register");
        td.task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_string()
    }

    pub async fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::from_conf(dockhand::ops::aws::logs_config(
            &self.account.sdk().await,
            Some(&self.account.id),
        ))
    }

    /// Creates log group `group` (already there is fine).
    pub async fn log_group(&self, group: &str) {
        let made = self
            .logs()
            .await
            .create_log_group()
            .log_group_name(group)
            .send()
            .await;
        if let Err(e) = made {
            let e = e.into_service_error();
            assert!(
                e.is_resource_already_exists_exception(),
                "create log group: {e:?}"
            );
        }
    }

    /// A worker of one task that logged `n` lines of ~80 characters a
    /// minute ago, more than one message holds (`line 00` carries a token, for
    /// the secret scans): the lines, oldest first.
    pub async fn long_log(&self, n: usize) -> Vec<String> {
        self.worker(1).await;
        let task = self.task_ids("apps", "worker").await.remove(0);
        let t = dockhand::ops::now() * 1000 - 60_000;
        let texts: Vec<String> = (0..n)
            .map(|i| match i {
                0 => format!("line 00 calling billing with token {}", SECRETS[3]),
                _ => format!("line {i:02} {}", "padding ".repeat(8)),
            })
            .collect();
        let events: Vec<(i64, &str)> = texts
            .iter()
            .enumerate()
            .map(|(i, s)| (t + i as i64, s.as_str()))
            .collect();
        self.log(
            "/dockhand/worker",
            &format!("worker/worker/{task}"),
            &events,
        )
        .await;
        texts
    }

    /// A DynamoDB client in this account, configured as the bot's.
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(dockhand::ops::aws::dynamodb_config(
            &self.account.sdk().await,
            Some(&self.account.id),
        ))
    }

    /// The shared state table as deploy/dockhand.yaml makes it: `pk` and `sk`,
    /// on-demand, TTL on `expires`.
    pub async fn state_table(&self, name: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        let db = self.dynamodb().await;
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap()
        };
        let key = |n: &str, t| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .unwrap()
        };
        db.create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .send()
            .await
            .unwrap();
        db.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires")
                    .enabled(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    /// Writes `lines` (milliseconds, text) into `group`/`stream`, creating both.
    pub async fn log(&self, group: &str, stream: &str, lines: &[(i64, &str)]) {
        use aws_sdk_cloudwatchlogs::types::InputLogEvent;
        self.log_group(group).await;
        let logs = self.logs().await;
        let _ = logs
            .create_log_stream()
            .log_group_name(group)
            .log_stream_name(stream)
            .send()
            .await;
        for chunk in lines.chunks(10_000) {
            let events = chunk
                .iter()
                .map(|(at, text)| {
                    InputLogEvent::builder()
                        .timestamp(*at)
                        .message(*text)
                        .build()
                        .unwrap()
                })
                .collect::<Vec<_>>();
            logs.put_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .set_log_events(Some(events))
                .send()
                .await
                .expect("put log events");
        }
    }

    /// The ids of the service's running tasks.
    pub async fn task_ids(&self, cluster: &str, service: &str) -> Vec<String> {
        let list = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .send()
            .await
            .expect("list tasks");
        list.task_arns()
            .iter()
            .map(|a| a.rsplit('/').next().unwrap().to_string())
            .collect()
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(dockhand::ops::aws::sqs_config(
            &self.account.sdk().await,
            Some(&self.account.id),
        ))
    }

    /// Messages in a queue: visible plus in flight.
    pub async fn queued(&self, url: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let a = self
            .sqs()
            .await
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let n = |k: A| {
            a.attributes()
                .and_then(|m| m.get(&k))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible)
    }
}

/// A notifications consumer running for a `Bot`: its posts reach the bot's
/// replies, each told delivered as a deliverer would.
pub struct Listening {
    pub stop: tokio_util::sync::CancellationToken,
    pub health: dockhand::health::Health,
    task: tokio::task::JoinHandle<()>,
}

impl Listening {
    pub async fn stopped(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the consumer stops")
            .expect("the consumer did not panic");
    }
}

/// Where the tests' people speak: `user` in the shell channel `ops`.
fn in_ops(user: &str) -> (Origin, Author) {
    let origin = Origin {
        platform: Platform::Shell,
        channel: "ops".into(),
        thread: None,
        direct: false,
    };
    let author = Author {
        external: false,
        id: user.into(),
        name: user.into(),
    };
    (origin, author)
}

impl Bot {
    pub fn listen(&self, url: &str) -> Listening {
        let (tx, mut rx) = mpsc::unbounded_channel::<Outbound>();
        let forward = self.outbox.clone();
        tokio::spawn(async move {
            while let Some(mut o) = rx.recv().await {
                o.reply.delivered.done();
                let _ = forward.send(o);
            }
        });
        let stop = tokio_util::sync::CancellationToken::new();
        let health = dockhand::health::Health::new();
        let queue = dockhand::ops::aws::queue::SqsQueue::new(self.dispatcher.ops_handle(), url);
        let notice: std::sync::Arc<dyn dockhand::notify::Notice> =
            std::sync::Arc::new(self.dispatcher.clone());
        let task = tokio::spawn(dockhand::notify::consume(
            queue,
            notice,
            tx,
            health.clone(),
            stop.clone(),
        ));
        Listening { stop, health, task }
    }

    /// Everything written so far, drawn as the shell draws it, waiting (up to
    /// a minute) until `done` holds of it.
    pub async fn until(&mut self, done: impl Fn(&str) -> bool) -> String {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let text = String::from_utf8(out.clone()).unwrap();
            if done(&text) {
                assert_no_secret(&text);
                return text;
            }
            match tokio::time::timeout_at(deadline, self.replies.recv()).await {
                Ok(Some(o)) => draw(&o.reply, &mut out).unwrap(),
                _ => panic!("waited a minute; the bot wrote:\n{text}"),
            }
        }
    }
}
