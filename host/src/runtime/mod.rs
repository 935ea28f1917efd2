//! The wasm side: one engine and linker, plugins compiled once, instances per use.
//!
//! [`Runtime`] owns the wasmtime [`Engine`] and a [`Linker`] with WASI preview 2 and
//! the `store` imports. [`Runtime::load`] compiles a component (through the compiled
//! cache when one is configured) and pre-links it into a [`Plugin`]; a plugin is
//! instantiated against a [`Database`](crate::Database) into a [`PluginInstance`],
//! whose methods call the plugin's exports with typed arguments, or any export by
//! name with component values.
//!
//! Every call into a plugin runs under its time limit (`call.rs`), which holds
//! while the guest computes, sleeps, or waits in any WASI or store call.

mod cache;
mod call;
mod call_by_name;
pub(crate) mod compiler;
mod engine;
mod export_names;
mod instance;
mod plugin;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

pub use self::call_by_name::InstanceFunc;
pub use self::compiler::{CompileRefused, Compiler};
pub use self::export_names::ExportName;
pub use self::instance::PluginInstance;
pub use self::plugin::{Plugin, ScriptOutput};
pub use crate::plugin_file::DEFAULT_MAX_PLUGIN_SIZE;

use self::cache::CompiledCache;
pub use self::cache::CompiledCacheCounts;
use crate::error::{Error, one_line};
use crate::imports::bindings;
use crate::imports::host::HostState;
use crate::sandbox::bounded_io;
use crate::sandbox::limits::{Limits, start_epoch_ticker};

/// The reference plugin, built from `guest/` by the build script and embedded
/// (feature `reference-plugin`, on by default).
#[cfg(feature = "reference-plugin")]
pub const REFERENCE_PLUGIN: &[u8] = include_bytes!(env!("REFERENCE_GUEST_WASM"));

/// The name the embedded reference plugin goes by (in errors and the lock file).
#[cfg(feature = "reference-plugin")]
pub const REFERENCE_PLUGIN_NAME: &str = "reference";

/// Builds a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    cache_dir: Option<PathBuf>,
    limits: Limits,
    max_plugin_size: u64,
    instance_pool: Option<u32>,
    compiler: Option<SharedCompiler>,
}

/// The runtime's [`Compiler`], shared by its clones.
#[derive(Clone)]
struct SharedCompiler(Arc<dyn Compiler>);

impl std::fmt::Debug for SharedCompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiler")
    }
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self {
            cache_dir: None,
            limits: Limits::default(),
            max_plugin_size: DEFAULT_MAX_PLUGIN_SIZE,
            instance_pool: None,
            compiler: None,
        }
    }
}

impl RuntimeBuilder {
    /// Keeps compiled plugins in `dir` (created with mode 0700 when missing), so a
    /// plugin is compiled once per machine rather than once per process. Off by
    /// default. Entries are used only when the directory and the entry belong to
    /// this user and nobody else can write them.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The bounds of every plugin call made through this runtime (default:
    /// [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The largest plugin file [`Runtime::load_file`] reads, in bytes (default
    /// [`DEFAULT_MAX_PLUGIN_SIZE`]).
    pub fn max_plugin_size(mut self, bytes: u64) -> Self {
        self.max_plugin_size = bytes;
        self
    }

    /// Keeps the memory of up to `instances` live plugin instances mapped and
    /// reuses it from one instance to the next (wasmtime's pooling allocator),
    /// instead of mapping fresh memory for every instance and unmapping it after.
    /// For a long-running host that instantiates per call from many threads
    /// (such as [`PluginHost`](crate::PluginHost)): each `munmap` there makes
    /// every other core flush its TLB. Up to 4 MiB of each memory stays
    /// resident, and only the pages an instance touched are reset after it (on
    /// Linux 6.7 and later). An instance beyond `instances` at once
    /// fails with [`Error::Trap`] until another ends, so give at least the
    /// number of calls that may run at once. It reserves address space (not
    /// memory) up front: about 4 GiB per linear memory slot, 16 slots per
    /// instance. Off by default, which suits a process that makes a few
    /// instances.
    pub fn instance_pool(mut self, instances: u32) -> Self {
        self.instance_pool = Some(instances.max(1));
        self
    }

    /// Compiles uploads ([`Runtime::load_checked`]) with `compiler`, outside
    /// this process, into the cache directory (which it requires); see
    /// [`Compiler`].
    pub fn compiler(mut self, compiler: Arc<dyn Compiler>) -> Self {
        self.compiler = Some(SharedCompiler(compiler));
        self
    }

    /// Creates the engine and links WASI and the store imports.
    ///
    /// # Errors
    /// [`Error::Engine`] when wasmtime cannot create the engine for this host.
    pub fn build(self) -> Result<Runtime, Error> {
        let engine_error = |e: wasmtime::Error| Error::Engine(one_line(&e));
        let config = engine::config(&self.limits, self.instance_pool);
        let engine = Engine::new(&config).map_err(engine_error)?;
        start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        // All of WASI preview 2 is linked so that components from any toolchain
        // instantiate; the per-instance WasiCtx grants none of it (see HostState).
        // Its blocking I/O is bounded by each call's deadline.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_error)?;
        bounded_io::add_to_linker(&mut linker, HostState::bounded_io).map_err(engine_error)?;
        bindings::CountersPlugin::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| {
            state
        })
        .map_err(engine_error)?;
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            cache: self.cache_dir.map(CompiledCache::new),
            limits: self.limits,
            max_plugin_size: self.max_plugin_size,
            compiler: self.compiler,
        })
    }
}

/// A wasm engine with the records host linked in. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    cache: Option<CompiledCache>,
    limits: Limits,
    max_plugin_size: u64,
    compiler: Option<SharedCompiler>,
}

impl Runtime {
    /// A runtime without a compiled-code cache; see [`RuntimeBuilder`].
    ///
    /// # Errors
    /// As [`RuntimeBuilder::build`].
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// A builder for a configured runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Compiles and links a plugin component given as bytes; `name` labels it in
    /// errors and in the lock file's holder record.
    ///
    /// # Errors
    /// [`Error::LoadPlugin`] when the bytes are not a valid component, or it imports
    /// something the host does not provide.
    pub fn load(&self, name: &str, wasm: &[u8]) -> Result<Plugin, Error> {
        let _span = tracing::debug_span!("load", plugin = name).entered();
        check_header(name, wasm)?;
        let component = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, wasm),
            None => Component::new(&self.engine, wasm),
        }
        .map_err(|e| load_error(name, one_line(&e)))?;
        self.link(name, &component)
    }

    /// Links a compiled `component`.
    fn link(&self, name: &str, component: &Component) -> Result<Plugin, Error> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| load_error(name, one_line(&e)))?;
        Ok(Plugin::new(name, pre, self.limits.clone()))
    }

    /// Compiles `wasm` into the cache directory, when it is not there yet: what
    /// a [`Compiler`] process runs.
    ///
    /// # Errors
    /// [`Error::LoadPlugin`] when it does not compile, or the runtime has no
    /// cache directory.
    pub fn precompile(&self, wasm: &[u8]) -> Result<(), Error> {
        check_header("upload", wasm)?;
        let cache = self
            .cache
            .as_ref()
            .ok_or_else(|| load_error("upload", "this runtime has no cache directory".into()))?;
        cache
            .load_or_compile(&self.engine, wasm)
            .map(drop)
            .map_err(|e| load_error("upload", one_line(&e)))
    }

    /// Like [`load`](Self::load), refusing bytes over the plugin size limit
    /// ([`RuntimeBuilder::max_plugin_size`]) first: for components that did not
    /// come from a file, such as an upload.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_checked(&self, name: &str, wasm: &[u8]) -> Result<Plugin, Error> {
        if wasm.len() as u64 > self.max_plugin_size {
            return Err(Error::LoadPlugin {
                plugin: crate::display::escape_control(name),
                reason: format!(
                    "{} bytes is larger than the {} MiB plugin size limit",
                    wasm.len(),
                    self.max_plugin_size.div_ceil(1 << 20)
                ),
            });
        }
        let (Some(SharedCompiler(compiler)), Some(cache)) = (&self.compiler, &self.cache) else {
            return self.load(name, wasm);
        };
        check_header(name, wasm)?;
        if let Some(component) = cache.load_cached(&self.engine, wasm) {
            cache.count_hit();
            return self.link(name, &component);
        }
        compiler
            .compile(wasm, cache.dir())
            .map_err(|refused| match refused {
                CompileRefused::Invalid(reason) => load_error(name, reason),
                other => Error::CompileRefused(other),
            })?;
        cache.count_compile();
        let component = cache.load_cached(&self.engine, wasm).ok_or_else(|| {
            load_error(
                name,
                "the compiled artifact does not load in this engine".into(),
            )
        })?;
        self.link(name, &component)
    }

    /// How often loads found their compiled code in the cache, and how often
    /// they compiled; `None` for a runtime without a cache directory.
    pub fn compiled_cache_counts(&self) -> Option<CompiledCacheCounts> {
        self.cache.as_ref().map(CompiledCache::counts)
    }

    /// The largest plugin this runtime loads, in bytes.
    pub fn max_plugin_size(&self) -> u64 {
        self.max_plugin_size
    }

    /// Loads a plugin from a `.wasm` component file, named after the file's stem.
    /// The file must be a regular file within the size limit
    /// ([`RuntimeBuilder::max_plugin_size`]).
    ///
    /// # Errors
    /// [`Error::LoadPlugin`] when the file cannot be read or loaded.
    pub fn load_file(&self, path: &Path) -> Result<Plugin, Error> {
        let (name, wasm) = self.read_file(path)?;
        self.load(&name, &wasm)
    }

    /// A plugin file's name (its stem) and bytes, read as [`load_file`](Self::load_file)
    /// reads it.
    ///
    /// # Errors
    /// [`Error::LoadPlugin`] when it cannot be read, is not a regular file, or
    /// is over the limit.
    pub fn read_file(&self, path: &Path) -> Result<(String, Vec<u8>), Error> {
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let wasm =
            crate::plugin_file::read_plugin(path, self.max_plugin_size).map_err(|reason| {
                Error::LoadPlugin {
                    plugin: crate::display::escape_control(&name),
                    reason,
                }
            })?;
        Ok((name, wasm))
    }

    /// Loads the embedded reference plugin (feature `reference-plugin`).
    ///
    /// # Errors
    /// As [`load`](Self::load).
    #[cfg(feature = "reference-plugin")]
    pub fn load_reference(&self) -> Result<Plugin, Error> {
        self.load(REFERENCE_PLUGIN_NAME, REFERENCE_PLUGIN)
    }
}

fn load_error(name: &str, reason: String) -> Error {
    Error::LoadPlugin {
        plugin: crate::display::escape_control(name),
        reason,
    }
}

/// Refuses bytes that do not even start as WebAssembly.
fn check_header(name: &str, wasm: &[u8]) -> Result<(), Error> {
    if wasm.starts_with(b"\0asm") {
        Ok(())
    } else {
        Err(load_error(
            name,
            "not a WebAssembly component (no \\0asm header)".into(),
        ))
    }
}
