//! Dispatch cost per message, in process: chatter (turned away by addressing) and a
//! canned-reply command (addressing, one RegexSet pass, captures, the reply).
//! Budgets: chatter <= 100 ns, canned reply <= 2 us. Run with `make bench`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use dockhand::catalog::Catalog;
use dockhand::config::Config;
use dockhand::dispatch::{Dispatcher, Handled};
use dockhand::message::{Author, Inbound, Origin, Platform, Via};
use dockhand::ops::aws::AwsOps;

fn dispatch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let config = Config::parse("bench", "", &|_| None, dockhand::verbs::NAMES).unwrap();
    let catalog = Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("commands")).unwrap();
    let ops = AwsOps::new(&config);
    let d = Dispatcher::new(config, catalog, ops);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let origin = Origin {
        platform: Platform::Shell,
        channel: "ops".into(),
        thread: None,
        direct: false,
    };
    let author = Author {
        external: false,
        id: "alice".into(),
        name: "alice".into(),
    };
    let msg = |text| Inbound {
        origin: &origin,
        author: &author,
        via: Via::Message,
        text,
    };

    let chatter = msg("has anyone seen the deploy dashboard today?");
    c.bench_function("dispatch/chatter", |b| {
        b.iter(|| {
            assert!(matches!(
                d.handle(black_box(&chatter), &tx),
                Handled::Ignored
            ))
        })
    });
    let canned = msg("!runbook db");
    c.bench_function("dispatch/canned_reply", |b| {
        b.iter(|| {
            assert!(matches!(
                d.handle(black_box(&canned), &tx),
                Handled::Reply(_)
            ))
        })
    });
    let ping = msg("!ping");
    c.bench_function("dispatch/ping", |b| {
        b.iter(|| assert!(matches!(d.handle(black_box(&ping), &tx), Handled::Reply(_))))
    });
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
