//! Help text, generated from the catalogue only: adding a file to `commands/` is
//! all it takes for a command to appear in `help`.

use super::{Catalog, Entry};

/// `help`: one line per command, usage and summary, in name order.
pub fn list(catalog: &Catalog, prefix: &str) -> String {
    let mut entries: Vec<&Entry> = catalog.entries().iter().collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::from("Commands:\n");
    for e in entries {
        out.push_str(&format!("`{}` {}\n", e.usage_line(prefix), e.summary));
    }
    out.push_str(&format!(
        "`{prefix}help <command>` shows details and examples."
    ));
    out
}

/// `help <command>`: usage, summary, help text, examples, aliases.
pub fn command(entry: &Entry, prefix: &str) -> String {
    let mut out = format!("`{}`\n{}", entry.usage_line(prefix), entry.summary);
    if !entry.help.is_empty() {
        out.push_str("\n\n");
        out.push_str(&entry.help);
    }
    if !entry.examples.is_empty() {
        out.push_str("\n\nExamples: ");
        let examples: Vec<String> = entry
            .examples
            .iter()
            .map(|x| format!("`{prefix}{x}`"))
            .collect();
        out.push_str(&examples.join(", "));
    }
    if !entry.aliases.is_empty() {
        out.push_str(if entry.examples.is_empty() {
            "\n\n"
        } else {
            "\n"
        });
        out.push_str("Aliases: ");
        out.push_str(&entry.aliases.join(", "));
    }
    out
}
