//! A `Reply` drawn for Discord: message content, an embed for structured replies,
//! and a row of buttons, all cut to Discord's size limits.
//!
//! Plain replies are content (tables in a code block, where Discord keeps the
//! spacing); a reply with fields (status, stack) is an embed with its title and one
//! field per entry, because embed fields read better on a phone than a wide table.
//! Every size is capped before Discord sees it: a message over a limit is refused
//! whole (400), so a long answer is cut with a note instead of lost.
//!
//! A reply's file (all of a long `logs` answer) is attached to the message itself:
//! one file, cut to Discord's size for a file, sent with the message as
//! `multipart/form-data` (serenity's `payload_json` and `files[0]`).

use serenity::all::{
    ButtonStyle as DiscordStyle, CreateActionRow, CreateAllowedMentions, CreateAttachment,
    CreateButton, CreateEmbed, CreateInteractionResponseMessage, CreateMessage,
    EditInteractionResponse, EditMessage,
};

use crate::message::{Attachment, ButtonStyle, Reply, aligned, cut};

/// Message content: 2000 characters.
pub const CONTENT_MAX: usize = 2000;
/// Embed limits: title 256, 25 fields, field name 256 and value 1024, description
/// 4096, and 6000 characters for the whole embed.
const TITLE_MAX: usize = 256;
const FIELDS_MAX: usize = 25;
const FIELD_NAME_MAX: usize = 256;
const FIELD_VALUE_MAX: usize = 1024;
const EMBED_MAX: usize = 6000;
/// A custom id is at most 100 characters; a longer command cannot be a button.
const CUSTOM_ID_MAX: usize = 100;
/// Five buttons fit in one action row.
const BUTTONS_MAX: usize = 5;
/// A file: 8 MiB, what Discord has always taken from a bot in any server (its
/// limits are higher today, and 10 files a message; a reply has one file).
pub const FILE_MAX: usize = 8 * 1024 * 1024;
/// A file's name as Discord keeps it (it rewrites other characters itself).
const FILE_NAME_MAX: usize = 100;

/// A reply, drawn: what every message builder (post, edit, interaction answer)
/// gets, so the four ways a reply reaches Discord cannot draw it differently.
#[derive(Debug, Clone)]
pub struct Drawn {
    pub content: String,
    pub embeds: Vec<CreateEmbed>,
    pub components: Vec<CreateActionRow>,
    /// The reply's file, attached to the message.
    pub file: Option<CreateAttachment>,
}

/// Code blocks keep aligned columns; anything else is shown as written.
fn body(text: &str, max: usize) -> String {
    if aligned(text) {
        format!("```\n{}\n```", cut(text, max - 8))
    } else {
        cut(text, max)
    }
}

pub fn draw(reply: &Reply) -> Drawn {
    let structured = !reply.fields.is_empty() || reply.title.is_some();
    let (content, embeds) = if structured {
        (String::new(), vec![embed(reply)])
    } else if let Some((heading, lines)) = reply.split_verbatim() {
        let heading = cut(heading, 300);
        let room = CONTENT_MAX - heading.chars().count() - 9;
        (
            format!("{heading}\n```\n{}\n```", cut(lines, room)),
            Vec::new(),
        )
    } else {
        (body(&reply.text, CONTENT_MAX), Vec::new())
    };
    Drawn {
        content,
        embeds,
        components: buttons(reply),
        file: reply.attachment.as_deref().map(file),
    }
}

/// The reply's file as Discord takes it: its newest part when it is over
/// `FILE_MAX` (the message shows the newest lines too), under a name Discord keeps.
fn file(a: &Attachment) -> CreateAttachment {
    CreateAttachment::bytes(newest(&a.text, FILE_MAX), file_name(&a.name))
}

/// `text` within `max` bytes: whole, or its last lines after a note of how many
/// earlier ones were left out.
fn newest(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    // The note is well under 100 bytes.
    let mut start = text.len() - (max - 100);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    if let Some(nl) = text[start..].find('\n') {
        start += nl + 1;
    }
    let left = text[..start].matches('\n').count();
    format!(
        "({left} earlier lines left out: over Discord's size for a file)\n{}",
        &text[start..]
    )
}

/// Letters, digits, `-`, `_` and `.`; anything else becomes `_`.
fn file_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(FILE_NAME_MAX)
        .collect();
    if name.trim_matches('.').is_empty() {
        "dockhand.txt".into()
    } else {
        name
    }
}

fn embed(reply: &Reply) -> CreateEmbed {
    let title = reply.title.as_deref().map(|t| cut(t, TITLE_MAX));
    let mut used = title.as_deref().map_or(0, |t| t.chars().count());
    let mut embed = CreateEmbed::new();
    if let Some(t) = title {
        embed = embed.title(t);
    }
    if reply.fields.is_empty() {
        // Stays under the 4096 of a description and the embed's 6000.
        let text = body(&reply.text, 4000);
        return embed.description(text);
    }
    // Room is kept for the note that says how many fields were left out.
    let budget = EMBED_MAX - 100;
    let mut shown = 0;
    for f in &reply.fields {
        let name = cut(&f.name, FIELD_NAME_MAX);
        let value = body(&f.value, FIELD_VALUE_MAX);
        // Discord refuses an empty field value; a dash reads as "nothing".
        let value = if value.trim().is_empty() {
            "-".to_string()
        } else {
            value
        };
        let size = name.chars().count() + value.chars().count();
        if shown == FIELDS_MAX - 1 || used + size > budget {
            break;
        }
        used += size;
        shown += 1;
        embed = embed.field(name, value, false);
    }
    let left = reply.fields.len() - shown;
    if left > 0 {
        embed = embed.field(
            "…",
            format!("{left} more not shown (Discord's embed limits)"),
            false,
        );
    }
    embed
}

fn buttons(reply: &Reply) -> Vec<CreateActionRow> {
    let buttons: Vec<CreateButton> = reply
        .buttons
        .iter()
        .filter(|b| b.command.chars().count() <= CUSTOM_ID_MAX)
        .take(BUTTONS_MAX)
        .map(|b| {
            let style = match b.style {
                ButtonStyle::Primary => DiscordStyle::Primary,
                ButtonStyle::Danger => DiscordStyle::Danger,
            };
            // The custom id is the command itself: a click is typed text.
            CreateButton::new(b.command.clone())
                .label(cut(&b.label, 80))
                .style(style)
        })
        .collect();
    if buttons.is_empty() {
        Vec::new()
    } else {
        vec![CreateActionRow::Buttons(buttons)]
    }
}

/// The prompt after a click settled it: who clicked what, and no buttons.
pub fn settled(prompt: &str, note: &str) -> Drawn {
    Drawn {
        content: cut(&format!("{prompt}\n{note}"), CONTENT_MAX),
        embeds: Vec::new(),
        components: Vec::new(),
        file: None,
    }
}

/// No reply pings anyone: names are written as text, and echoed input is inert.
fn quiet() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

// Each builder gets the same parts; fields are always set, so an edit also
// clears what the earlier version had (an answered prompt loses its buttons).
macro_rules! build {
    ($builder:expr, $drawn:expr) => {
        $builder
            .content($drawn.content)
            .embeds($drawn.embeds)
            .components($drawn.components)
            .allowed_mentions(quiet())
    };
}

impl Drawn {
    pub fn post(mut self) -> CreateMessage {
        let file = self.file.take();
        let message = build!(CreateMessage::new(), self);
        match file {
            Some(f) => message.add_file(f),
            None => message,
        }
    }

    /// An edit says which files the message has, as it says its fields: the
    /// reply's file, uploaded again (a file's content cannot be changed, only
    /// replaced), or none, so a file never outlives the text that names it.
    pub fn edit(mut self) -> EditMessage {
        let file = self.file.take();
        let edit = build!(EditMessage::new(), self);
        match file {
            Some(f) => edit.new_attachment(f),
            None => edit.remove_all_attachments(),
        }
    }

    /// The answer to a deferred slash command (its original response), with
    /// files as `edit` has them.
    pub fn answer(mut self) -> EditInteractionResponse {
        let file = self.file.take();
        let answer = build!(EditInteractionResponse::new(), self);
        match file {
            Some(f) => answer.new_attachment(f),
            None => answer.clear_attachments(),
        }
    }

    /// An interaction response message (an update of the clicked message, or an
    /// ephemeral note).
    pub fn respond(mut self) -> CreateInteractionResponseMessage {
        let file = self.file.take();
        let message = build!(CreateInteractionResponseMessage::new(), self);
        match file {
            Some(f) => message.add_file(f),
            None => message,
        }
    }

    /// The same message without its file, and a note saying so where it fits:
    /// for a channel where Discord refuses the file (no Attach Files).
    pub fn without_file(mut self) -> Drawn {
        let Some(file) = self.file.take() else {
            return self;
        };
        let note = format!(
            "\n({} could not be attached: the bot needs Attach Files here.)",
            file.filename
        );
        if self.content.chars().count() + note.chars().count() <= CONTENT_MAX {
            self.content.push_str(&note);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json(reply: &Reply) -> Value {
        serde_json::to_value(draw(reply).post()).unwrap()
    }

    #[test]
    fn plain_text_is_content_and_tables_keep_their_columns() {
        let v = json(&Reply::text("pong"));
        assert_eq!(v["content"], "pong");
        assert_eq!(v["embeds"], serde_json::json!([]));
        assert_eq!(v["allowed_mentions"]["parse"], serde_json::json!([]));
        let v = json(&Reply::text("hubot   prod  v2\nworker  prod  v41"));
        assert!(v["content"].as_str().unwrap().starts_with("```\n"));
    }

    #[test]
    fn long_content_is_cut_to_2000_with_a_note() {
        let v = json(&Reply::text("line of text\n".repeat(400)));
        let content = v["content"].as_str().unwrap();
        assert!(content.chars().count() <= CONTENT_MAX);
        assert!(content.ends_with("(cut at 2000 characters)"), "{content}");
    }

    #[test]
    fn fields_become_an_embed_within_discords_limits() {
        let mut reply = Reply::text("x").titled("hubot UPDATE_COMPLETE");
        for i in 0..40 {
            reply = reply.field(format!("app{i}"), "v".repeat(2000));
        }
        let v = json(&reply);
        assert_eq!(v["content"], "");
        let embed = &v["embeds"][0];
        assert_eq!(embed["title"], "hubot UPDATE_COMPLETE");
        let fields = embed["fields"].as_array().unwrap();
        assert!(fields.len() <= FIELDS_MAX, "{}", fields.len());
        let mut total = embed["title"].as_str().unwrap().chars().count();
        for f in fields {
            let value = f["value"].as_str().unwrap();
            assert!(value.chars().count() <= FIELD_VALUE_MAX);
            total += f["name"].as_str().unwrap().chars().count() + value.chars().count();
        }
        assert!(total <= EMBED_MAX, "{total}");
        let last = fields.last().unwrap();
        assert!(
            last["value"].as_str().unwrap().contains("more not shown"),
            "{last}"
        );
    }

    #[test]
    fn a_file_goes_with_the_message_and_an_edit_says_which_it_has() {
        let reply = Reply::verbatim("worker: 2 lines (all 3 in worker-logs.txt):", "b\nc")
            .attach("worker-logs.txt", "a\nb\nc\n");
        let drawn = draw(&reply);
        assert_eq!(drawn.file.as_ref().unwrap().data, b"a\nb\nc\n");
        assert_eq!(
            drawn.content,
            "worker: 2 lines (all 3 in worker-logs.txt):\n```\nb\nc\n```"
        );
        // The form's `files[0]` is the `attachments` entry of id 0.
        let entry =
            serde_json::json!([{"id": 0, "filename": "worker-logs.txt", "description": null}]);
        assert_eq!(json(&reply)["attachments"], entry);
        let edit = serde_json::to_value(draw(&reply).edit()).unwrap();
        assert_eq!(edit["attachments"], entry);
        // Without a file, an edit or an answer leaves the message none.
        let plain = Reply::text("done");
        for v in [
            serde_json::to_value(draw(&plain).edit()).unwrap(),
            serde_json::to_value(draw(&plain).answer()).unwrap(),
            json(&plain),
        ] {
            assert_eq!(v["attachments"], serde_json::json!([]), "{v}");
        }
    }

    #[test]
    fn a_file_over_discords_limit_keeps_its_newest_lines() {
        let text: String = (0..100).map(|i| format!("line {i:02}\n")).collect();
        assert_eq!(newest(&text, 800), text);
        let kept = newest(&text, 200);
        assert!(kept.len() <= 200, "{}", kept.len());
        assert!(kept.starts_with("(88 earlier lines left out"), "{kept}");
        assert!(
            kept.contains(")\nline 88\n") && kept.ends_with("line 99\n"),
            "{kept}"
        );
        let big = Reply::text("x").attach("big.txt", "y\n".repeat(FILE_MAX));
        assert!(draw(&big).file.unwrap().data.len() <= FILE_MAX);
    }

    #[test]
    fn file_names_are_kept_to_what_discord_keeps() {
        assert_eq!(file_name("hubot-logs.txt"), "hubot-logs.txt");
        assert_eq!(file_name("a b/c\"d.txt"), "a_b_c_d.txt");
        assert_eq!(file_name(""), "dockhand.txt");
        assert_eq!(file_name("x".repeat(300).as_str()).len(), FILE_NAME_MAX);
    }

    #[test]
    fn a_refused_file_leaves_a_note_where_it_fits() {
        let reply = Reply::verbatim("worker: 1 line (all 2 in worker-logs.txt):", "b")
            .attach("worker-logs.txt", "a\nb\n");
        let drawn = draw(&reply).without_file();
        assert!(drawn.file.is_none());
        assert!(
            drawn.content.ends_with(
                "```\n(worker-logs.txt could not be attached: the bot needs Attach Files here.)"
            ),
            "{}",
            drawn.content
        );
        let full = Reply::text("z".repeat(CONTENT_MAX)).attach("f.txt", "z");
        assert_eq!(
            draw(&full).without_file().content.chars().count(),
            CONTENT_MAX
        );
    }

    #[test]
    fn buttons_carry_their_command_as_custom_id() {
        let reply = Reply::text("Confirm?")
            .button("Confirm", "confirm AB12", ButtonStyle::Primary)
            .button("Abort", "abort AB12", ButtonStyle::Danger);
        let v = json(&reply);
        let row = &v["components"][0]["components"];
        assert_eq!(row[0]["custom_id"], "confirm AB12");
        assert_eq!(row[0]["label"], "Confirm");
        assert_eq!(row[1]["style"], 4, "danger");
        let settled =
            serde_json::to_value(settled("Confirm?", "Confirmed by alice.").edit()).unwrap();
        assert_eq!(settled["components"], serde_json::json!([]));
    }
}
