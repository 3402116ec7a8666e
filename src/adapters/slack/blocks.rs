//! A `Reply` drawn for Slack: fallback text plus Block Kit that reads on a phone.
//!
//! The text is always complete (notifications and screen readers show only it);
//! blocks add a header for the title, one section per field (Slack's two-column
//! `fields` squash multi-line values on a phone), and an actions block for buttons
//! whose `value` is the command a click sends through dispatch.

use slack_morphism::prelude::*;

use crate::message::{ButtonStyle, Reply, aligned, cut};

/// Slack's limit for a section's text; longer text is cut with a note.
const SECTION_MAX: usize = 3000;
/// A header is plain text up to 150 characters.
const HEADER_MAX: usize = 150;
/// `text` of a message may be 40,000 characters; far less reads well.
const TEXT_MAX: usize = 3500;
/// Action ids of the buttons; the value carries the command itself.
pub const BUTTON_ACTION: &str = "dockhand:command";

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters: escaped, a usage
/// line such as `deploy <app> <version>` shows as typed instead of as a broken link.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Text shaped as a table (aligned columns) goes in a code block, where Slack keeps
/// the spacing; anything else is mrkdwn.
fn section_text(text: &str) -> String {
    let escaped = escape(text);
    if aligned(text) {
        format!("```{}```", cut(&escaped, SECTION_MAX - 6))
    } else {
        cut(&escaped, SECTION_MAX)
    }
}

/// The message content for a reply: `text` always, blocks when there is structure.
pub fn content(reply: &Reply) -> SlackMessageContent {
    let text = cut(&escape(&reply.text), TEXT_MAX);
    let plain = reply.title.is_none()
        && reply.fields.is_empty()
        && reply.buttons.is_empty()
        && !reply.verbatim;
    if plain && !reply.text.lines().any(|l| l.contains("  ")) {
        return SlackMessageContent::new().with_text(text);
    }
    SlackMessageContent::new()
        .with_text(text)
        .with_blocks(blocks(reply))
}

fn blocks(reply: &Reply) -> Vec<SlackBlock> {
    let mut blocks: Vec<SlackBlock> = Vec::new();
    if let Some(title) = &reply.title {
        let title: String = title.chars().take(HEADER_MAX).collect();
        blocks.push(SlackHeaderBlock::new(pt!(title)).into());
    }
    if let Some((heading, lines)) = reply.split_verbatim() {
        let heading = cut(&escape(heading), 300);
        let room = SECTION_MAX - heading.len() - 8;
        blocks.push(
            SlackSectionBlock::new()
                .with_text(md!(format!(
                    "{heading}\n```{}```",
                    cut(&escape(lines), room)
                )))
                .into(),
        );
    } else if reply.fields.is_empty() {
        if !reply.text.trim().is_empty() {
            blocks.push(
                SlackSectionBlock::new()
                    .with_text(md!(section_text(&reply.text)))
                    .into(),
            );
        }
    } else {
        for f in &reply.fields {
            let body = format!("*{}*\n{}", escape(&f.name), section_text(&f.value));
            blocks.push(
                SlackSectionBlock::new()
                    .with_text(md!(cut(&body, SECTION_MAX)))
                    .into(),
            );
        }
    }
    if !reply.buttons.is_empty() {
        let elements = reply
            .buttons
            .iter()
            .map(|b| {
                let style = match b.style {
                    ButtonStyle::Primary => SlackBlockButtonStyle::Primary,
                    ButtonStyle::Danger => SlackBlockButtonStyle::Danger,
                };
                SlackActionBlockElement::Button(
                    SlackBlockButtonElement::new(pt!(b.label.clone()))
                        .with_action_id(BUTTON_ACTION.into())
                        .with_value(b.command.clone())
                        .with_style(style),
                )
            })
            .collect();
        blocks.push(SlackActionsBlock::new(elements).into());
    }
    // Slack allows 50 blocks per message; replies are bounded well below it.
    blocks.truncate(50);
    blocks
}

/// The content of a confirmation prompt after a click settled it: the prompt's
/// text, who clicked what, and no buttons left to click.
pub fn settled(prompt: &str, note: &str) -> SlackMessageContent {
    let text = cut(&format!("{}\n{}", escape(prompt), escape(note)), TEXT_MAX);
    SlackMessageContent::new()
        .with_text(text.clone())
        .with_blocks(vec![
            SlackSectionBlock::new()
                .with_text(md!(cut(&escape(prompt), SECTION_MAX)))
                .into(),
            SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
                SlackBlockMarkDownText::new(escape(note)),
            )])
            .into(),
        ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Reply;

    #[test]
    fn usage_lines_survive_mrkdwn() {
        assert_eq!(escape("deploy <app> & go"), "deploy &lt;app&gt; &amp; go");
    }

    #[test]
    fn buttons_carry_their_command() {
        let reply = Reply::text("Confirm?")
            .button("Confirm", "confirm AB12", ButtonStyle::Primary)
            .button("Abort", "abort AB12", ButtonStyle::Danger);
        let json = serde_json::to_value(content(&reply)).unwrap();
        let elements = &json["blocks"][1]["elements"];
        assert_eq!(elements[0]["value"], "confirm AB12");
        assert_eq!(elements[0]["action_id"], BUTTON_ACTION);
        assert_eq!(elements[1]["style"], "danger");
    }

    #[test]
    fn tables_keep_their_columns_and_fields_get_sections() {
        let table = Reply::text("hubot   prod  v2\nworker  prod  v41");
        let json = serde_json::to_value(content(&table)).unwrap();
        assert!(
            json["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .starts_with("```")
        );
        let stack = Reply::text("x")
            .titled("hubot UPDATE_COMPLETE")
            .field("Parameters", "Version = v2");
        let json = serde_json::to_value(content(&stack)).unwrap();
        assert_eq!(json["blocks"][0]["type"], "header");
        assert_eq!(
            json["blocks"][1]["text"]["text"],
            "*Parameters*\nVersion = v2"
        );
    }
}
