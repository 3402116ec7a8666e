//! `dockhand shell`: the chat adapter for development, demos and tests.
//!
//! On a terminal it is an interactive prompt. With stdin from a pipe or file it reads
//! one message per line and writes each reply's text to stdout as it is produced;
//! edits are drawn as `  ~ ` lines and thread posts as `  └ ` lines under the message
//! they belong to. At end of input it waits for every operation to finish and exits.
//!
//! Reading happens on a blocking thread with a large buffer and replies are flushed
//! when the input buffer runs dry, so a file of a million lines streams through at
//! memory speed while an interactive pipe still sees each answer at once.
//!
//! On a terminal, a reply that arrives while the prompt waits (progress, a finished
//! deploy) erases the prompt line, prints, and draws the prompt again (see
//! [`draw_over`]); what was typed so far stays in the terminal's input, unseen.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::adapters::Router;
use crate::dispatch::{Dispatcher, Handled};
use crate::message::{Author, Inbound, Origin, Placement, Platform, Reply, Via};
use crate::message::{Outbound, Outbox};
use crate::ops::Ops;

/// Who is speaking and where, set by `--user` and `--channel`.
#[derive(Debug, Clone)]
pub struct Speaker {
    pub user: String,
    pub channel: String,
}

/// Draws a reply as shell lines.
pub fn draw(reply: &Reply, out: &mut impl Write) -> std::io::Result<()> {
    let lead = match reply.placement {
        Placement::New => "",
        Placement::Edit(_) => "  ~ ",
        Placement::Thread(_) => "  └ ",
    };
    for (i, line) in reply.text.lines().enumerate() {
        let lead = if i == 0 || lead.is_empty() {
            lead
        } else {
            "    "
        };
        writeln!(out, "{lead}{line}")?;
    }
    if !reply.buttons.is_empty() {
        let buttons: Vec<String> = reply
            .buttons
            .iter()
            .map(|b| format!("[{}: {}]", b.label, b.command))
            .collect();
        writeln!(out, "{lead}{}", buttons.join(" "))?;
    }
    // A terminal has no message limit: the whole file follows.
    if let Some(a) = &reply.attachment {
        writeln!(out, "{lead}--- {} ---", a.name)?;
        for line in a.text.lines() {
            writeln!(out, "{lead}{line}")?;
        }
    }
    Ok(())
}

/// Moves to the start of the line and erases it (a VT100/ANSI sequence).
pub const ERASE_LINE: &str = "\r\x1b[2K";

/// Draws a reply that arrives on its own (not as the answer to a line just typed).
/// With `prompt` showing, the prompt line is erased first and the prompt drawn
/// again after, so the reply does not run on behind it; with `None` (a pipe, or no
/// prompt out) it is exactly [`draw`].
pub fn draw_over(reply: &Reply, prompt: Option<&str>, out: &mut impl Write) -> std::io::Result<()> {
    if prompt.is_some() {
        out.write_all(ERASE_LINE.as_bytes())?;
    }
    draw(reply, out)?;
    if let Some(p) = prompt {
        out.write_all(p.as_bytes())?;
    }
    Ok(())
}

/// Standard output, and the prompt when one waits for input (terminal only).
struct Screen {
    out: std::io::BufWriter<std::io::Stdout>,
    prompt: Option<String>,
}

/// An input beside stdin (the notifications queue): started with the shell's
/// outbox, it runs until the token is cancelled.
pub type Source = Box<dyn FnOnce(Outbox, CancellationToken) -> BoxFuture<'static, ()> + Send>;

/// Runs the shell until end of input (and `linger` after it, for what `source`
/// still brings) and every spawned operation has reported.
pub async fn run<O: Ops>(
    dispatcher: Dispatcher<O>,
    speaker: Speaker,
    source: Option<Source>,
    linger: Duration,
) -> std::io::Result<()> {
    let stdout = Arc::new(Mutex::new(Screen {
        out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
        prompt: None,
    }));
    // The shell is one platform's adapter like the others: replies to other
    // platforms (an audit channel on Slack) go nowhere here.
    let mut router = Router::new();
    let mut rx = router.route(Platform::Shell);
    let (tx, routed) = mpsc::unbounded_channel::<Outbound>();
    let routing = tokio::spawn(router.run(routed));

    let stop_source = CancellationToken::new();
    let source = source.map(|start| tokio::spawn(start(tx.clone(), stop_source.clone())));
    let writer = {
        let stdout = Arc::clone(&stdout);
        let here = speaker.channel.clone();
        tokio::spawn(async move {
            while let Some(mut out) = rx.recv().await {
                let mut screen = stdout.lock().expect("stdout lock");
                let Screen { out: w, prompt } = &mut *screen;
                // A notification for another shell channel says where it was sent.
                if *out.origin.channel != *here {
                    if prompt.is_some() {
                        w.write_all(ERASE_LINE.as_bytes())?;
                    }
                    write!(w, "[{}] ", out.origin.channel)?;
                    draw(&out.reply, w)?;
                    if let Some(p) = prompt.as_deref() {
                        w.write_all(p.as_bytes())?;
                    }
                } else {
                    draw_over(&out.reply, prompt.as_deref(), w)?;
                }
                w.flush()?;
                out.reply.delivered.done();
            }
            Ok::<(), std::io::Error>(())
        })
    };

    let reader = {
        let (dispatcher, stdout) = (dispatcher.clone(), Arc::clone(&stdout));
        tokio::task::spawn_blocking(move || read_loop(&dispatcher, &speaker, &tx, &stdout))
    };
    reader.await.map_err(std::io::Error::other)??;
    if let Some(source) = source {
        tokio::time::sleep(linger).await;
        stop_source.cancel();
        let _ = source.await;
    }

    dispatcher.tasks().close();
    dispatcher.tasks().wait().await;
    // The reader's sender is gone and every task has finished: the router, then
    // the writer, drain and end.
    drop(dispatcher);
    let _ = routing.await;
    writer.await.map_err(std::io::Error::other)??;
    stdout.lock().expect("stdout lock").out.flush()
}

fn read_loop<O: Ops>(
    dispatcher: &Dispatcher<O>,
    speaker: &Speaker,
    tx: &mpsc::UnboundedSender<Outbound>,
    stdout: &Mutex<Screen>,
) -> std::io::Result<()> {
    let origin = Origin {
        platform: Platform::Shell,
        channel: speaker.channel.as_str().into(),
        thread: None,
        direct: false,
    };
    let author = Author {
        external: false,
        id: speaker.user.as_str().into(),
        name: speaker.user.as_str().into(),
    };
    let interactive = std::io::stdin().is_terminal();
    let mut input = BufReader::with_capacity(64 * 1024, std::io::stdin().lock());
    let mut line = Vec::with_capacity(1024);
    let prompt = format!("{}@{}> ", speaker.user, speaker.channel);
    loop {
        if interactive {
            let mut screen = stdout.lock().expect("stdout lock");
            screen.out.write_all(prompt.as_bytes())?;
            screen.out.flush()?;
            screen.prompt = Some(prompt.clone());
        }
        line.clear();
        let read = input.read_until(b'\n', &mut line);
        if interactive {
            // Enter was pressed (or input ended): the prompt no longer waits. At the
            // end, the line is finished so later replies start on their own.
            let mut screen = stdout.lock().expect("stdout lock");
            screen.prompt = None;
            if matches!(read, Ok(0)) {
                screen.out.write_all(b"\n")?;
            }
        }
        if read? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        let inbound = Inbound {
            origin: &origin,
            author: &author,
            via: Via::Message,
            text,
        };
        // On a terminal every line is for the bot; in a pipe, chatter is ignored.
        let inbound = if interactive {
            Inbound {
                via: Via::Addressed,
                ..inbound
            }
        } else {
            inbound
        };
        match dispatcher.handle(&inbound, tx) {
            Handled::Ignored | Handled::Started => {}
            Handled::Reply(reply) => draw(&reply, &mut stdout.lock().expect("stdout lock").out)?,
        }
        if input.buffer().is_empty() {
            stdout.lock().expect("stdout lock").out.flush()?;
        }
    }
    Ok(())
}
