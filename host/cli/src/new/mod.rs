//! `records-host new`: a starter plugin project in Rust, Python or JavaScript,
//! from templates embedded in the binary, with the contract in its `wit/`.
//!
//! Nothing is ever overwritten: the project directory must not exist, it is
//! created with every file in it, and removed again if writing fails half way.

mod lang;
mod name;
mod render;
mod templates;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};

use self::lang::Lang;
use self::render::{Values, render};
use crate::exit;
use crate::usage::UsageError;
use crate::wit::write_wit;

/// The world a plugin targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum World {
    /// Record CRUD: exports `records`.
    Plugin,
    /// Record CRUD and atomic counters: exports `records` and `counters`.
    CountersPlugin,
}

/// Create a starter plugin project that builds with the language's usual tools
/// and passes `records-host check` unchanged.
#[derive(Debug, Args)]
pub(crate) struct New {
    /// The plugin's name: lowercase letters, digits and single hyphens (`my-plugin`).
    #[arg(value_name = "NAME")]
    name: String,

    /// The language.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,

    /// The world the plugin targets.
    #[arg(long, value_enum, default_value_t = World::Plugin)]
    world: World,

    /// Where to create the project; it must not exist [default: ./NAME].
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
}

impl New {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        name::validate(&self.name, self.lang).map_err(UsageError)?;
        let dir = self
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.name));
        create_new_dir(&dir)?;
        if let Err(err) = self.fill(&dir) {
            // Ours alone (it did not exist): leave nothing half made.
            let _ = fs::remove_dir_all(&dir);
            return Err(err);
        }
        println!(
            "created {} ({}, world {}) in {}",
            self.name,
            self.lang.label(),
            self.world_name(),
            dir.display()
        );
        println!("next: see {}", dir.join("README.md").display());
        Ok(exit::OK)
    }

    fn world_name(&self) -> &'static str {
        match self.world {
            World::Plugin => "plugin",
            World::CountersPlugin => "counters-plugin",
        }
    }

    fn fill(&self, dir: &Path) -> anyhow::Result<()> {
        let values = Values {
            name: &self.name,
            world: self.world_name(),
            counters: self.world == World::CountersPlugin,
            wit_bindgen: templates::WIT_BINDGEN,
        };
        for file in templates::files(self.lang) {
            write_new(&dir.join(file.path), &render(file.text, &values))?;
        }
        write_wit(&dir.join("wit"))
    }
}

/// Creates `dir` (and its missing parents), refusing one that exists (exit 2).
fn create_new_dir(dir: &Path) -> anyhow::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(UsageError(format!(
            "{} already exists; nothing was written (choose another --dir)",
            dir.display()
        ))
        .into()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot create {}", dir.display()))),
    }
}

/// Writes a file that must not exist yet.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
