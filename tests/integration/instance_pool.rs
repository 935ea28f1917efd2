//! A runtime with an instance pool (`RuntimeBuilder::instance_pool`), as `serve`
//! builds it: memory is reused from one instance to the next, and nothing one
//! instance left in it reaches the next; instances beyond the pool wait for none
//! and fail until one ends.

use std::collections::HashSet;

use records_host::{Error, PluginHost, Runtime, TenantName};

use crate::support::*;

/// `bump` increments a byte of its data segment (5 at start), a word of zeroed
/// memory, a word of a page it grows, and a global, and returns
/// `data + 10 * memory + 100 * grown + 1000 * global`: 1116 from a fresh
/// instance, more from one that kept anything of an earlier instance.
const BUMP: &str = r#"(component
  (core module $m
    (memory 1)
    (data (i32.const 16) "\05")
    (global $g (mut i32) (i32.const 0))
    (func (export "bump") (result i32)
      (local $grown i32)
      (i32.store8 (i32.const 16) (i32.add (i32.load8_u (i32.const 16)) (i32.const 1)))
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (if (i32.eq (memory.size) (i32.const 1)) (then (drop (memory.grow (i32.const 1)))))
      (local.set $grown (i32.add (i32.load (i32.const 65536)) (i32.const 1)))
      (i32.store (i32.const 65536) (local.get $grown))
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (i32.add
        (i32.add (i32.load8_u (i32.const 16)) (i32.mul (i32.load (i32.const 0)) (i32.const 10)))
        (i32.add (i32.mul (local.get $grown) (i32.const 100))
                 (i32.mul (global.get $g) (i32.const 1000))))))
  (core instance $i (instantiate $m))
  (func (export "bump") (result u32) (canon lift (core func $i "bump"))))"#;

fn pooled(instances: u32) -> Runtime {
    Runtime::builder().instance_pool(instances).build().unwrap()
}

#[test]
fn a_reused_slot_starts_as_fresh_as_a_new_instance() {
    let env = Env::new();
    let plugin = pooled(4)
        .load("bump", &wat::parse_str(BUMP).unwrap())
        .unwrap();
    let host = PluginHost::new(plugin, env.dir.path()).keep_open(8);
    let tenant = TenantName::new("t").unwrap();
    let results: Vec<u32> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..50)
                        .map(|_| {
                            host.call(&tenant, |p| {
                                let bump = p.find_func("bump")?;
                                p.call_func(&bump, &[])
                            })
                            .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .map(|results| match results.as_slice() {
                [records_host::Val::U32(n)] => *n,
                other => panic!("unexpected results {other:?}"),
            })
            .collect()
    });
    assert_eq!(results.len(), 200);
    assert_eq!(
        results.iter().collect::<HashSet<_>>(),
        HashSet::from([&1116])
    );
}

#[test]
fn an_instance_beyond_the_pool_fails_until_one_ends() {
    let env = Env::new();
    let plugin = pooled(1).load_reference().unwrap();
    let mut first = plugin.instantiate(env.open()).unwrap();
    let err = plugin
        .instantiate(env.open())
        .err()
        .expect("the pool is full");
    assert!(matches!(err, Error::Trap(_)), "{err:?}");
    assert!(err.to_string().contains("concurrent"), "{err}");
    assert_eq!(first.create_record("kept", 1).unwrap(), 1);
    drop(first);
    let mut second = plugin.instantiate(env.open()).unwrap();
    assert_eq!(second.get_record(1).unwrap().unwrap().name, "kept");
}

#[test]
fn the_reference_plugin_runs_from_the_pool_as_from_fresh_memory() {
    let env = Env::new();
    let host = PluginHost::new(pooled(2).load_reference().unwrap(), env.dir.path());
    let tenant = TenantName::new("t").unwrap();
    for i in 1..=20 {
        let id = host
            .call(&tenant, |p| p.create_record(&format!("r{i}"), i))
            .unwrap();
        assert_eq!(id, i);
    }
    let all = host.call(&tenant, |p| p.get_all_records()).unwrap();
    assert_eq!(all.len(), 20);
    assert_eq!(all[19].value, 20);
}
