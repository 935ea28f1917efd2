//! Filling a template: `{{placeholder}}` substitution and optional blocks.
//!
//! Three placeholders and one kind of block are all the templates need, so a
//! template engine (and its syntax inside Python and JavaScript sources) would
//! cost more than these lines: a block is the lines between a line containing
//! `{{#counters}}` and one containing `{{/counters}}` (in the language's comment
//! syntax, so every template stays valid source), kept for the `counters-plugin`
//! world and dropped otherwise; the marker lines themselves always go.

/// The values a template is filled with.
pub(super) struct Values<'a> {
    /// The plugin's name (`my-plugin`).
    pub(super) name: &'a str,
    /// The world (`plugin` or `counters-plugin`).
    pub(super) world: &'a str,
    /// Whether `{{#counters}}` blocks are kept.
    pub(super) counters: bool,
    /// The wit-bindgen version the Rust template depends on.
    pub(super) wit_bindgen: &'a str,
}

/// `template` with its blocks resolved and placeholders replaced.
pub(super) fn render(template: &str, values: &Values<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut in_block = false;
    for line in template.split_inclusive('\n') {
        if line.contains("{{#counters}}") {
            in_block = true;
        } else if line.contains("{{/counters}}") {
            in_block = false;
        } else if !in_block || values.counters {
            out.push_str(line);
        }
    }
    out.replace("{{name}}", values.name)
        .replace("{{crate}}", &values.name.replace('-', "_"))
        .replace("{{world}}", values.world)
        .replace("{{wit_bindgen}}", values.wit_bindgen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(counters: bool) -> Values<'static> {
        Values {
            name: "my-plugin",
            world: if counters {
                "counters-plugin"
            } else {
                "plugin"
            },
            counters,
            wit_bindgen: "0.61",
        }
    }

    #[test]
    fn blocks_are_kept_or_dropped_and_markers_always_go() {
        let template = "a {{name}}\n# {{#counters}}\nc {{world}}\n# {{/counters}}\nz {{crate}}\n";
        assert_eq!(
            render(template, &values(true)),
            "a my-plugin\nc counters-plugin\nz my_plugin\n"
        );
        assert_eq!(
            render(template, &values(false)),
            "a my-plugin\nz my_plugin\n"
        );
    }
}
