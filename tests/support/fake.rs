//! `FakeOps`: every AWS capability answered from memory, for the behaviours that are
//! dispatch's own (holds, records, recovery, the words of replies). A rollout waits
//! until the test releases it, so a test decides what is in flight when; nothing
//! here sleeps. AWS semantics themselves are tested against the emulator.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use dockhand::command::value::{AppName, StackName, TaskCount, Version};
use dockhand::config::{App, Environment, OutputRules};
use dockhand::ops::{
    AppStatus, Deployment, Event, EventLine, HistoryEntry, Inspect, Lock, Operation, OpsError,
    OpsResult, Outcome, Plan, Progress, Rollouts, StackDetail, StackSummary, Store, Target,
    Verdict,
};

pub struct FakeOps {
    /// What was asked, in order: `deploy hubot v2`, `record hubot`, ...
    calls: Mutex<Vec<String>>,
    /// One permit per rollout allowed to finish.
    release: Semaphore,
    locks: Mutex<HashMap<AppName, Lock>>,
    records: Mutex<HashMap<AppName, Operation>>,
    /// The version every app runs, as plans see it.
    current: Mutex<String>,
    /// What live tails read, one batch a second: lines, or AWS's refusal.
    tailed: Tailed,
}

impl FakeOps {
    pub fn new() -> FakeOps {
        FakeOps {
            calls: Mutex::default(),
            release: Semaphore::new(0),
            locks: Mutex::default(),
            records: Mutex::default(),
            current: Mutex::new("v1".into()),
            tailed: Arc::default(),
        }
    }

    /// What plans say the apps run now (someone else deployed).
    pub fn set_current(&self, version: &str) {
        *self.current.lock().unwrap() = version.to_string();
    }

    /// Lets `n` waiting (or future) rollouts finish.
    pub fn finish(&self, n: usize) {
        self.release.add_permits(n);
    }

    /// Lines a live tail reads next (every tail reads from the same queue).
    pub fn logged(&self, lines: &[&str]) {
        self.tailed
            .lock()
            .unwrap()
            .push_back(Ok(lines.iter().map(|l| l.to_string()).collect()));
    }

    /// The next read of a live tail fails as AWS says.
    pub fn tail_breaks(&self, why: &str) {
        self.tailed.lock().unwrap().push_back(Err(why.to_string()));
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// What was asked since the last take.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    pub fn lock_app(&self, app: &str, lock: Lock) {
        self.locks
            .lock()
            .unwrap()
            .insert(AppName::parse(app).unwrap(), lock);
    }

    pub fn put_record(&self, op: Operation) {
        self.records.lock().unwrap().insert(op.app.clone(), op);
    }

    pub fn record_of(&self, app: &str) -> Option<Operation> {
        self.records
            .lock()
            .unwrap()
            .get(&AppName::parse(app).unwrap())
            .cloned()
    }

    fn call(&self, what: String) {
        self.calls.lock().unwrap().push(what);
    }

    /// A rollout: says where it starts, waits to be released, goes live.
    async fn rollout(
        &self,
        target: &Target,
        what: String,
        progress: Progress,
    ) -> OpsResult<Outcome> {
        if let Some(lock) = self.locks.lock().unwrap().get(&target.app.name).cloned() {
            return Err(OpsError::Locked {
                app: target.app.name.to_string(),
                lock,
            });
        }
        self.call(what);
        let _ = progress.send(Event::Started {
            current: Some("v1".into()),
        });
        self.release.acquire().await.expect("open").forget();
        Ok(Outcome {
            verdict: Verdict::Live {
                version: None,
                revision: format!("{}:2", target.app.name),
                running: 2,
                desired: 2,
            },
            elapsed: Duration::from_secs(3),
        })
    }
}

impl Rollouts for FakeOps {
    async fn deploy(&self, t: &Target, v: &Version, p: Progress) -> OpsResult<Outcome> {
        self.rollout(t, format!("deploy {} {v}", t.app.name), p)
            .await
    }

    async fn plan(&self, _: &Target, v: &Version) -> OpsResult<Plan> {
        let current = self.current.lock().unwrap().clone();
        Ok(Plan {
            changes: vec![format!("Parameter Version: {current} -> {v}")],
            current: Some(current),
        })
    }

    async fn rollback(&self, t: &Target, p: Progress) -> OpsResult<Outcome> {
        self.rollout(t, format!("rollback {}", t.app.name), p).await
    }

    async fn decide_hook(&self, t: &Target, go_on: bool) -> OpsResult<String> {
        self.call(format!("decide {} {go_on}", t.app.name));
        Ok(format!("{} decided", t.app.name))
    }

    async fn proceed(&self, t: &Target, p: Progress) -> OpsResult<Outcome> {
        self.rollout(t, format!("continue {}", t.app.name), p).await
    }

    async fn rollback_plan(&self, _: &Target) -> OpsResult<Plan> {
        let current = self.current.lock().unwrap().clone();
        Ok(Plan {
            changes: vec![format!("Back from {current} to the version before it")],
            current: Some(current),
        })
    }

    async fn scale(&self, t: &Target, n: TaskCount, p: Progress) -> OpsResult<Outcome> {
        self.rollout(t, format!("scale {} {n}", t.app.name), p)
            .await
    }

    async fn cancel(&self, t: &Target, p: Progress) -> OpsResult<Outcome> {
        self.rollout(t, format!("cancel {}", t.app.name), p).await
    }

    async fn follow(&self, t: &Target, d: &Deployment, p: Progress) -> OpsResult<Outcome> {
        self.rollout(t, format!("follow {} {}", t.app.name, d.id), p)
            .await
    }

    async fn resume(&self, t: &Target, op: &Operation, p: Progress) -> OpsResult<Outcome> {
        self.rollout(t, format!("resume {}", op.asked()), p).await
    }
}

impl Inspect for FakeOps {
    /// Each app asked about runs v1, so a reply shows which apps were asked.
    async fn status(&self, apps: &[(App, Environment)]) -> Vec<AppStatus> {
        let names: Vec<&str> = apps.iter().map(|(a, _)| a.name.as_str()).collect();
        self.call(format!("status {}", names.join(",")));
        apps.iter()
            .map(|(a, e)| AppStatus {
                app: a.name.to_string(),
                environment: e.name.clone(),
                version: Some("v1".into()),
                running: 1,
                desired: 1,
                pending: 0,
                rollout: "COMPLETED".into(),
                deployed_by: None,
                deployed_at: None,
                problem: None,
            })
            .collect()
    }

    /// The account holds the apps' stacks and one that is no app's.
    async fn stacks(&self, envs: &[Environment]) -> OpsResult<Vec<StackSummary>> {
        let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
        self.call(format!("stacks {}", names.join(",")));
        Ok(["dockhand-cluster", "hubot", "ledger", "web"]
            .into_iter()
            .map(|name| StackSummary {
                name: name.into(),
                status: "UPDATE_COMPLETE".into(),
                updated: None,
            })
            .collect())
    }

    async fn stack(
        &self,
        _: &Environment,
        name: &StackName,
        _: &OutputRules,
    ) -> OpsResult<StackDetail> {
        self.call(format!("stack {name}"));
        Err(OpsError::NotFound(format!(
            "Stack `{name}` does not exist."
        )))
    }

    async fn events(&self, app: &App, _: &Environment, _: usize) -> OpsResult<Vec<EventLine>> {
        self.call(format!("events {}", app.name));
        Ok(Vec::new())
    }

    /// A new app: nothing to compare a version with, so no confirmation.
    async fn deployment(&self, t: &Target, id: &str) -> OpsResult<Deployment> {
        self.call(format!("deployment {} {id}", t.app.name));
        Ok(Deployment {
            id: id.to_string(),
            present: true,
            created_ms: None,
            task_definition: format!("{}:2", t.app.name),
            version: Some("v3".into()),
            registered_by: Some("arn:aws:iam::123456789012:role/pipeline".into()),
            by_dockhand: None,
        })
    }

    async fn service_name(&self, app: &App, _: &Environment) -> OpsResult<(String, String)> {
        Ok(("prod".into(), app.name.to_string()))
    }

    type Tail = FakeTail;

    async fn tail(
        &self,
        app: &App,
        _: &Environment,
        q: &dockhand::ops::TailQuery,
    ) -> OpsResult<FakeTail> {
        self.call(format!("tail {} {:?} {:?}", app.name, q.grep, q.task));
        Ok(FakeTail {
            source: format!("/dockhand/{}", app.name),
            queue: Arc::clone(&self.tailed),
        })
    }

    /// Two lines, whatever was asked; the call says what was.
    async fn logs(
        &self,
        app: &App,
        _: &Environment,
        q: &dockhand::ops::LogQuery,
    ) -> OpsResult<dockhand::ops::LogPage> {
        self.call(format!(
            "logs {} {} {:?} {:?}",
            app.name, q.lines, q.grep, q.task
        ));
        let line = |text: &str| dockhand::ops::LogLine {
            at_ms: 1_000,
            task: "0a1b2c3d".into(),
            text: text.into(),
        };
        Ok(dockhand::ops::LogPage {
            source: format!("/dockhand/{}", app.name),
            lines: vec![line("Starting"), line("Ready")],
            earlier: 0,
            cut_short: false,
        })
    }

    async fn history(&self, _: &App, _: &Environment) -> OpsResult<Vec<HistoryEntry>> {
        Ok(Vec::new())
    }
}

impl Store for FakeOps {
    async fn lock(&self, target: &Target, reason: &str) -> OpsResult<Lock> {
        let mut locks = self.locks.lock().unwrap();
        if let Some(lock) = locks.get(&target.app.name) {
            return Err(OpsError::Locked {
                app: target.app.name.to_string(),
                lock: lock.clone(),
            });
        }
        let lock = Lock {
            by: target.requester.identity.clone(),
            by_name: target.requester.name.clone(),
            at: 0,
            reason: reason.to_string(),
        };
        locks.insert(target.app.name.clone(), lock.clone());
        Ok(lock)
    }

    async fn unlock(&self, target: &Target, _may_break: bool) -> OpsResult<Option<Lock>> {
        Ok(self.locks.lock().unwrap().remove(&target.app.name))
    }

    async fn record(&self, target: &Target, op: &Operation) -> OpsResult<()> {
        self.call(format!("record {}", target.app.name));
        self.put_record(op.clone());
        Ok(())
    }

    async fn clear(&self, target: &Target) -> OpsResult<()> {
        self.call(format!("clear {}", target.app.name));
        self.records.lock().unwrap().remove(&target.app.name);
        Ok(())
    }

    async fn operations(&self, _: &[(App, Environment)]) -> Vec<Operation> {
        self.records.lock().unwrap().values().cloned().collect()
    }
}

/// What live tails read next, one batch a read: lines, or AWS's refusal.
type Tailed = Arc<Mutex<VecDeque<Result<Vec<String>, String>>>>;

/// A live tail that reads what the test queued (`FakeOps::logged`), one batch
/// a second on tokio's clock, as Live Tail's updates come.
pub struct FakeTail {
    source: String,
    queue: Tailed,
}

impl dockhand::ops::LogTail for FakeTail {
    async fn next(&mut self) -> OpsResult<dockhand::ops::TailBatch> {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let next = self.queue.lock().unwrap().pop_front();
        match next.unwrap_or(Ok(Vec::new())) {
            Ok(lines) => Ok(dockhand::ops::TailBatch {
                lines: lines
                    .into_iter()
                    .map(|text| dockhand::ops::LogLine {
                        at_ms: 1_000,
                        task: "0a1b2c3d".into(),
                        text,
                    })
                    .collect(),
                sampled: false,
            }),
            Err(why) => Err(OpsError::Ended(why)),
        }
    }

    fn source(&self) -> &str {
        &self.source
    }

    fn live(&self) -> bool {
        true
    }
}

/// A dispatcher over `FakeOps` with `config` (TOML; the shipped catalogue).
pub fn dispatcher(config: &str) -> dockhand::dispatch::Dispatcher<FakeOps> {
    let text = format!(
        "commands_dir = {:?}\n{config}",
        super::root().join("commands")
    );
    let config =
        dockhand::config::Config::parse("fake.toml", &text, &|_| None, dockhand::verbs::NAMES)
            .unwrap_or_else(|e| panic!("{e:?}"));
    let catalog = dockhand::catalog::Catalog::load(&config.commands_dir).unwrap();
    dockhand::dispatch::Dispatcher::new(config, catalog, FakeOps::new())
}
