//! Tenants' own plugins over HTTP: uploads checked and refused with the right
//! status, versions listed, read, activated, tried, removed; scopes; the
//! default plugin and `--no-default-plugin`. Real server, real client, both
//! backends.

use records_host::REFERENCE_PLUGIN;
use records_test_fixtures::FLAWED;
use serde_json::json;

use super::*;

/// 2^53 + 1: the flawed fixture stores 2^53, the reference plugin the value.
const TELLING: i64 = 9_007_199_254_740_993;

const WASM: &[(&str, &str)] = &[("Content-Type", "application/wasm")];

/// A deploy token for `tenant`.
fn deploy_token(env: &Env, tenant: &str) -> String {
    let output =
        run(command(env.dir.path())
            .args(["token", tenant, "--tokens", "tokens", "--scope", "deploy"]));
    assert_exit(&output, 0);
    stdout(&output)
}

/// What `tenant`'s plugin stores for [`TELLING`], with `headers` on the call.
fn stored(server: &Server, tenant: &str, token: &str, headers: &[(&str, &str)]) -> i64 {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    let body = json!({"function": "create-record", "args": ["t", TELLING]}).to_string();
    let path = format!("/v1/tenants/{tenant}/call");
    let created = server.send("POST", &path, Some(token), &all, body.as_bytes());
    assert_eq!(created.status, 200, "{}", created.text);
    let id = created.body["ok"].as_i64().unwrap();
    let body = json!({"function": "get-record", "args": [id]}).to_string();
    let got = server.send("POST", &path, Some(token), &all, body.as_bytes());
    got.body["ok"]["value"].as_i64().unwrap()
}

on_both! {
    fn uploads_are_checked_versioned_activated_tried_and_removed(env) {
        let acme = deploy_token(&env, "acme");
        let other = mint(&env, "other");
        let server = Server::start(&env, &["--tokens", "tokens"]);
        let plugins = "/v1/tenants/acme/plugins";
        let up = |body: &[u8], path: &str| server.send("POST", path, Some(&acme), WASM, body);

        let first = up(REFERENCE_PLUGIN, plugins);
        assert_eq!(first.status, 201, "{}", first.text);
        assert_eq!(first.body["version"], 1);
        assert_eq!(first.body["active"], false);
        assert_eq!(first.body["passed"], true);
        assert!(first.body["uploaded_by"].as_str().unwrap().starts_with("token:acme:"));
        assert!(!first.text.contains(&acme[4..]), "the token is never shown");

        let flawed = std::fs::read(FLAWED).unwrap();
        let refused = up(&flawed, plugins);
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert!(refused.body["error"].as_str().unwrap().starts_with("the plugin failed"));
        let failed: Vec<&str> = refused.body["report"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] != "pass")
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert!(!failed.is_empty());
        let forced = up(&flawed, &format!("{plugins}?force=true"));
        assert_eq!((forced.status, forced.body["version"].clone()), (201, json!(2)));
        assert_eq!(forced.body["passed"], false);

        for (body, what) in [
            (&b"not wasm at all"[..], "not wasm"),
            (&b"\0asm\x01\0\0\0"[..], "a core module"),
        ] {
            let answer = up(body, plugins);
            assert_eq!(answer.status, 422, "{what}: {}", answer.text);
            assert!(answer.body["error"].as_str().unwrap().starts_with("the component was refused"), "{what}");
        }
        let text = server.send("POST", plugins, Some(&acme), &[("Content-Type", "text/plain")], REFERENCE_PLUGIN);
        assert_eq!(text.status, 415);

        // Nothing active yet: acme runs the server's plugin.
        assert_eq!(stored(&server, "acme", &acme, &[]), TELLING);
        let activate = |n: u32, query: &str| {
            server.send("POST", &format!("{plugins}/{n}/activate{query}"), Some(&acme), &[], b"")
        };
        assert_eq!(activate(2, "").status, 409);
        assert_eq!(activate(2, "?force=true").status, 200);
        assert_eq!(stored(&server, "acme", &acme, &[]), 1 << 53, "version 2 runs");
        assert_eq!(stored(&server, "acme", &acme, &[("X-Plugin-Version", "1")]), TELLING);
        assert_eq!(stored(&server, "other", &other, &[]), TELLING, "others keep the default");
        assert_eq!(activate(9, "").status, 404);

        let listed = server.get(plugins, Some(&acme));
        assert_eq!(listed.status, 200);
        let versions: Vec<(i64, bool)> = listed.body.as_array().unwrap().iter()
            .map(|v| (v["version"].as_i64().unwrap(), v["active"].as_bool().unwrap()))
            .collect();
        assert_eq!(versions, [(2, true), (1, false)]);
        let shown = server.get(&format!("{plugins}/2"), Some(&acme));
        assert_eq!(shown.body["report"]["passed"], false);
        assert_eq!(server.get_bytes(&format!("{plugins}/2/wasm"), Some(&acme)), (200, flawed));

        let delete = |n: u32| server.send("DELETE", &format!("{plugins}/{n}"), Some(&acme), &[], b"");
        assert_eq!(delete(2).status, 409, "the active version stays");
        assert_eq!(activate(1, "").status, 200);
        assert_eq!(delete(2).status, 204);
        assert_eq!(server.get(&format!("{plugins}/2"), Some(&acme)).status, 404);
        assert_eq!(stored(&server, "acme", &acme, &[]), TELLING, "rolled back to version 1");
    }
}

on_both! {
    fn only_the_tenants_deploy_tokens_reach_the_deploy_routes(env) {
        let caller = mint(&env, "acme");
        let globex = deploy_token(&env, "globex");
        let acme = deploy_token(&env, "acme");
        let server = Server::start(&env, &["--tokens", "tokens"]);
        let base = "/v1/tenants/acme/plugins";
        assert_eq!(server.send("POST", base, Some(&acme), WASM, REFERENCE_PLUGIN).status, 201);
        let routes: [(&str, String); 6] = [
            ("POST", base.to_string()),
            ("GET", base.to_string()),
            ("GET", format!("{base}/1")),
            ("GET", format!("{base}/1/wasm")),
            ("POST", format!("{base}/1/activate")),
            ("DELETE", format!("{base}/1")),
        ];
        for (method, path) in &routes {
            let body: &[u8] = if *method == "POST" { REFERENCE_PLUGIN } else { b"" };
            let as_caller = server.send(method, path, Some(&caller), WASM, body);
            assert_eq!(as_caller.status, 403, "{method} {path} with a call token");
            assert!(as_caller.body["error"].as_str().unwrap().contains("may call but not deploy"));
            assert_eq!(server.send(method, path, Some(&globex), WASM, body).status, 403, "{method} {path}");
            assert_eq!(server.send(method, path, None, WASM, body).status, 401, "{method} {path}");
        }
        // The call token still calls.
        assert_eq!(stored(&server, "acme", &caller, &[]), TELLING);
        let list = server.get(base, Some(&acme));
        assert_eq!(list.body.as_array().unwrap().len(), 1, "nothing changed");
    }
}

on_both! {
    fn without_a_default_plugin_a_tenant_without_one_gets_409(env) {
        let acme = deploy_token(&env, "acme");
        let server = Server::start(&env, &["--tokens", "tokens", "--no-default-plugin", "--max-plugin-size", "1"]);
        let call = json!({"function": "get-all-records", "args": []}).to_string();
        let path = "/v1/tenants/acme/call";
        let refused = server.send("POST", path, Some(&acme), &[("Content-Type", "application/json")], call.as_bytes());
        assert_eq!(refused.status, 409, "{}", refused.text);
        assert_eq!(refused.body["error"], "no plugin is deployed for tenant acme");

        let too_large = vec![0u8; (1 << 20) + 1];
        let answer = server.send("POST", "/v1/tenants/acme/plugins", Some(&acme), WASM, &too_large);
        assert_eq!(answer.status, 413);
        let stored = server.send("POST", "/v1/tenants/acme/plugins", Some(&acme), WASM, REFERENCE_PLUGIN);
        assert_eq!(stored.status, 201, "{}", stored.text);
        let n = stored.body["version"].as_i64().unwrap();
        let activated = server.send("POST", &format!("/v1/tenants/acme/plugins/{n}/activate"), Some(&acme), &[], b"");
        assert_eq!(activated.status, 200);
        let served = server.send("POST", path, Some(&acme), &[("Content-Type", "application/json")], call.as_bytes());
        assert_eq!(served.status, 200, "{}", served.text);
        let metrics = server.get("/metrics", None).text;
        assert!(metrics.contains("records_host_plugin_uploads_total{outcome=\"stored\"} 1"), "{metrics}");
        assert!(metrics.contains("records_host_plugin_uploads_total{outcome=\"too_large\"} 1"), "{metrics}");
        assert!(metrics.contains("records_host_loaded_plugins 1"), "{metrics}");
    }
}

on_both! {
    fn identical_uploads_compile_once_and_count_as_compiled_cache_hits(env) {
        // Bytes no other test (or earlier run) compiled into the shared cache.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let unique = with_nonce(REFERENCE_PLUGIN, u64::try_from(nanos % (1 << 63)).unwrap());
        let server = Server::start(&env, &["--no-auth"]);
        let counts = |server: &Server| {
            let text = server.get("/metrics", None).text;
            let read = |name: &str| -> u64 {
                let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name}: {text}"));
                line.rsplit(' ').next().unwrap().parse().unwrap()
            };
            (read("records_host_plugin_compiles_total"), read("records_host_compiled_cache_hits_total"))
        };
        let before = counts(&server);
        for tenant in ["acme", "globex"] {
            let stored = server.send("POST", &format!("/v1/tenants/{tenant}/plugins"), None, WASM, &unique);
            assert_eq!(stored.status, 201, "{}", stored.text);
        }
        let after = counts(&server);
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1), "one compile, then one hit");
    }
}

/// Two servers on one PostgreSQL database: what one stores and activates, the
/// other lists at once and runs from its next call (each call reads the active
/// version when it starts, so no delay bounds it but the activation's commit).
#[test]
fn two_servers_on_one_postgres_database_see_one_set_of_versions() {
    let Some(env) = Env::postgres() else { return };
    let acme = deploy_token(&env, "acme");
    let a = Server::start(&env, &["--tokens", "tokens"]);
    let b = Server::start(&env, &["--tokens", "tokens"]);
    assert_eq!(
        stored(&b, "acme", &acme, &[]),
        TELLING,
        "b runs the default"
    );
    let flawed = std::fs::read(FLAWED).unwrap();
    let up = a.send(
        "POST",
        "/v1/tenants/acme/plugins?force=true",
        Some(&acme),
        WASM,
        &flawed,
    );
    assert_eq!(up.status, 201, "{}", up.text);
    let listed = b.get("/v1/tenants/acme/plugins", Some(&acme));
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["sha256"], up.body["sha256"]);
    let activated = a.send(
        "POST",
        "/v1/tenants/acme/plugins/1/activate?force=true",
        Some(&acme),
        &[],
        b"",
    );
    assert_eq!(activated.status, 200);
    assert_eq!(
        stored(&b, "acme", &acme, &[]),
        1 << 53,
        "b's next call runs version 1"
    );
    assert_eq!(
        b.get_bytes("/v1/tenants/acme/plugins/1/wasm", Some(&acme)),
        (200, flawed)
    );
}

on_both! {
    fn a_deployed_script_runs_over_http_with_its_stdin_and_output(env) {
        let acme = deploy_token(&env, "acme");
        let caller = mint(&env, "acme");
        let server = Server::start(&env, &["--tokens", "tokens"]);
        let run = |body: serde_json::Value| {
            server.send(
                "POST",
                "/v1/tenants/acme/scripts/import-csv/run",
                Some(&caller),
                &[("Content-Type", "application/json")],
                body.to_string().as_bytes(),
            )
        };
        let none = run(json!({"stdin": "a,1\n"}));
        assert_eq!(none.status, 409, "{}", none.text);
        assert_eq!(none.body["error"], "no version of the script import-csv is active");

        let script = std::fs::read(records_test_fixtures::IMPORT_CSV).unwrap();
        let path = "/v1/tenants/acme/scripts/import-csv";
        let up = server.send("POST", path, Some(&acme), WASM, &script);
        assert_eq!(up.status, 201, "{}", up.text);
        let activated = server.send("POST", &format!("{path}/1/activate"), Some(&acme), &[], b"");
        assert_eq!(activated.status, 200, "{}", activated.text);

        let dry = run(json!({"args": ["--dry-run"], "stdin": "a,1\nb,2\n"}));
        assert_eq!(dry.status, 200, "{}", dry.text);
        assert_eq!(dry.body, json!({
            "exit": 0,
            "stdout": "checked 2 records; nothing imported (--dry-run)\n",
            "stderr": "",
            "truncated": false,
        }));
        let imported = run(json!({"stdin": "apples,3\npears,5\n"}));
        assert_eq!(imported.body["exit"], 0, "{}", imported.text);
        assert_eq!(imported.body["stdout"], "imported 2 records (ids 1..=2)\n");
        let bad = run(json!({"stdin": "apples,3\nnot a record\n"}));
        assert_eq!(bad.body["exit"], 1, "{}", bad.text);
        assert!(bad.body["stderr"].as_str().unwrap().contains("line 2"), "{}", bad.text);
        let records = server.call("acme", Some(&caller), &json!({"function": "get-all-records"}));
        assert_eq!(records.body["ok"].as_array().unwrap().len(), 2, "the bad run imported nothing");
    }
}
