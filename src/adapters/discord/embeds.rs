//! A `Reply` drawn for Discord: message content, an embed for structured replies,
//! and a row of buttons, all cut to Discord's size limits.
//!
//! Plain replies are content (tables in a code block, where Discord keeps the
//! spacing); a reply with fields (status, stack) is an embed with its title and one
//! field per entry, because embed fields read better on a phone than a wide table.
//! Every size is capped before Discord sees it: a message over a limit is refused
//! whole (400), so a long answer is cut with a note instead of lost.

use serenity::all::{
    ButtonStyle as DiscordStyle, CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed,
    CreateInteractionResponseMessage, CreateMessage, EditInteractionResponse, EditMessage,
};

use crate::message::{ButtonStyle, Reply, aligned, cut};

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

/// A reply, drawn: what every message builder (post, edit, interaction answer)
/// gets, so the four ways a reply reaches Discord cannot draw it differently.
#[derive(Debug, Clone)]
pub struct Drawn {
    pub content: String,
    pub embeds: Vec<CreateEmbed>,
    pub components: Vec<CreateActionRow>,
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
    }
}

/// No reply pings anyone: names are written as text, and echoed input is inert.
fn quiet() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

// Each builder gets the same four parts; fields are always set, so an edit also
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
    pub fn post(self) -> CreateMessage {
        build!(CreateMessage::new(), self)
    }

    pub fn edit(self) -> EditMessage {
        build!(EditMessage::new(), self)
    }

    /// The answer to a deferred slash command (its original response).
    pub fn answer(self) -> EditInteractionResponse {
        build!(EditInteractionResponse::new(), self)
    }

    /// An interaction response message (an update of the clicked message, or an
    /// ephemeral note).
    pub fn respond(self) -> CreateInteractionResponseMessage {
        build!(CreateInteractionResponseMessage::new(), self)
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
