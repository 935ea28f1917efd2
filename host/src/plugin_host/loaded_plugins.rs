//! The compiled plugins of deployed versions kept in memory, by the SHA-256 of
//! their bytes, least recently used dropped first, bounded by the bytes of their
//! compiled code. Tenants that deployed the same bytes share one entry. A
//! plugin dropped here stays alive while calls still run it (it is an `Arc`);
//! loading it again takes its compiled code from the runtime's cache on disk,
//! not the compiler.

use lru::LruCache;

use crate::runtime::Plugin;

/// Loaded plugins, by SHA-256.
pub(crate) struct LoadedPlugins {
    plugins: LruCache<String, Plugin>,
    bytes: u64,
    max_bytes: u64,
}

impl LoadedPlugins {
    /// Keeps plugins of at most `max_bytes` of compiled code (always the one
    /// loaded last, whatever its size).
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self {
            plugins: LruCache::unbounded(),
            bytes: 0,
            max_bytes,
        }
    }

    /// The plugin of these bytes, if loaded; it becomes the most recently used.
    pub(crate) fn get(&mut self, sha256: &str) -> Option<Plugin> {
        self.plugins.get(sha256).cloned()
    }

    /// Keeps `plugin` as the one of `sha256`, dropping the least recently used
    /// ones over the bound; what it dropped, to be freed outside the caller's
    /// lock.
    pub(crate) fn put(&mut self, sha256: &str, plugin: Plugin) -> Vec<Plugin> {
        let mut dropped = Vec::new();
        self.bytes += plugin.code_size();
        if let Some(old) = self.plugins.put(sha256.to_string(), plugin) {
            self.bytes -= old.code_size();
            dropped.push(old);
        }
        while self.bytes > self.max_bytes && self.plugins.len() > 1 {
            let Some((_, old)) = self.plugins.pop_lru() else {
                break;
            };
            self.bytes -= old.code_size();
            dropped.push(old);
        }
        dropped
    }

    /// How many plugins, and how many bytes of compiled code, are loaded.
    pub(crate) fn usage(&self) -> (usize, u64) {
        (self.plugins.len(), self.bytes)
    }
}

#[cfg(all(test, feature = "reference-plugin"))]
mod tests {
    use super::*;
    use crate::runtime::{REFERENCE_PLUGIN, Runtime};

    /// The reference plugin with a custom section holding `n`: other bytes,
    /// the same code.
    fn variant(runtime: &Runtime, n: u8) -> Plugin {
        let mut wasm = REFERENCE_PLUGIN.to_vec();
        wasm.extend_from_slice(&[0, 3, 1, b'n', n]);
        runtime.load("variant", &wasm).expect("the variant loads")
    }

    #[test]
    fn the_least_recently_used_plugins_go_first_once_over_the_byte_bound() {
        let runtime = Runtime::new().expect("a runtime");
        let (a, b, c) = (
            variant(&runtime, 1),
            variant(&runtime, 2),
            variant(&runtime, 3),
        );
        let size = a.code_size();
        assert!(size > 0);
        let mut loaded = LoadedPlugins::new(2 * size + size / 2);
        assert!(loaded.put("a", a).is_empty());
        assert!(loaded.put("b", b).is_empty());
        assert_eq!(loaded.usage(), (2, 2 * size));
        assert!(loaded.get("a").is_some(), "a is now the most recently used");
        let dropped = loaded.put("c", c.clone());
        assert_eq!(dropped.len(), 1);
        assert!(
            loaded.get("b").is_none(),
            "b, the least recently used, went"
        );
        assert!(loaded.get("a").is_some() && loaded.get("c").is_some());
        assert_eq!(loaded.usage(), (2, 2 * size));

        // One plugin over the whole bound is still kept: the one loaded last.
        let mut tiny = LoadedPlugins::new(1);
        assert!(tiny.put("c", c).is_empty());
        assert_eq!(tiny.usage(), (1, size));
    }
}
