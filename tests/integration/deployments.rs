//! Tenants' own plugin versions through the library's `PluginHost`: deployed,
//! checked, activated, tried before activation, shared when the bytes are the
//! same, refused when nothing is deployed and there is no default. On both
//! backends.

use records_host::{
    DeployError, Error, PluginHost, REFERENCE_PLUGIN, Runtime, Slot, TenantName, Upload,
};
use records_test_fixtures::FLAWED;

use crate::support::on_both;

/// 2^53 + 1: the flawed fixture stores it as a JavaScript number would (2^53),
/// the reference plugin as it is. Which plugin ran shows in the value read back.
const TELLING: i64 = 9_007_199_254_740_993;

fn upload(by: &str) -> Upload {
    Upload {
        uploaded_by: by.to_string(),
        message: Some("test".into()),
        ..Upload::default()
    }
}

/// The value `tenant`'s plugin (the version `version`, else the one its calls
/// run) stores for [`TELLING`].
fn stored(host: &PluginHost, tenant: &TenantName, version: Option<u32>) -> i64 {
    host.call_version(tenant, version, |plugin| {
        let id = plugin.create_record("telling", TELLING)?;
        Ok(plugin.get_record(id)?.expect("just stored").value)
    })
    .expect("a call")
}

on_both! {
    fn a_tenants_active_version_runs_and_other_tenants_keep_the_default(env) {
        let runtime = Runtime::builder()
            .cache_dir(env.dir.path().join("cache"))
            .build()
            .unwrap();
        let host = PluginHost::new(runtime.load_reference().unwrap(), env.tenant_home())
            .deployments(runtime, 64 << 20);
        let (acme, other) = (TenantName::new("acme").unwrap(), TenantName::new("other").unwrap());
        let flawed = std::fs::read(FLAWED).unwrap();

        let refused = host.deploy(&acme, &Slot::Plugin, &flawed, &upload("operator:test"));
        let Err(Error::ChecksFailed { report }) = refused else {
            panic!("a failing plugin is refused: {refused:?}");
        };
        assert!(!report.not_passed().is_empty());
        assert!(host.versions(&acme, &Slot::Plugin).unwrap().is_empty(), "nothing stored");

        let good = host.deploy(&acme, &Slot::Plugin, REFERENCE_PLUGIN, &upload("operator:test")).unwrap();
        let forced = host
            .deploy(&acme, &Slot::Plugin, &flawed, &Upload { force: true, ..upload("operator:test") })
            .unwrap();
        assert_eq!((good.number, good.passed), (1, true));
        assert_eq!((forced.number, forced.passed), (2, false));

        // Nothing active yet: the default plugin serves acme.
        assert_eq!(stored(&host, &acme, None), TELLING);
        assert!(matches!(
            host.activate(&acme, &Slot::Plugin, 2, false),
            Err(Error::Deploy(DeployError::FailedChecks { number: 2, .. }))
        ));
        host.activate(&acme, &Slot::Plugin, 2, true).unwrap();
        assert_eq!(stored(&host, &acme, None), 1 << 53, "acme runs its version 2");
        assert_eq!(stored(&host, &acme, Some(1)), TELLING, "version 1 on request");
        assert_eq!(stored(&host, &other, None), TELLING, "other keeps the default");

        // Rolling back is activating the older version.
        host.activate(&acme, &Slot::Plugin, 1, false).unwrap();
        assert_eq!(stored(&host, &acme, None), TELLING);
        let info = host.version(&acme, &Slot::Plugin, 2).unwrap();
        let bytes = host.version_wasm(&acme, &Slot::Plugin, 2).unwrap();
        assert_eq!((info.active, bytes.len() as u64), (false, info.size));
        assert_eq!(bytes, flawed);
    }
}

on_both! {
    fn identical_uploads_share_one_loaded_plugin_and_no_default_means_no_plugin(env) {
        let runtime = Runtime::builder()
            .cache_dir(env.dir.path().join("cache"))
            .build()
            .unwrap();
        let host = PluginHost::new(runtime.load_reference().unwrap(), env.tenant_home())
            .deployments(runtime, 64 << 20)
            .without_default_plugin();
        let tenants: Vec<TenantName> = ["t1", "t2", "t3"]
            .iter()
            .map(|t| TenantName::new(t).unwrap())
            .collect();
        let refused = host.call(&tenants[0], |plugin| plugin.get_all_records());
        assert!(
            matches!(&refused, Err(Error::NoPluginDeployed { tenant }) if tenant == "t1"),
            "{refused:?}"
        );
        for tenant in &tenants {
            let v = host.deploy(tenant, &Slot::Plugin, REFERENCE_PLUGIN, &upload("operator:test")).unwrap();
            host.activate(tenant, &Slot::Plugin, v.number, false).unwrap();
            assert_eq!(stored(&host, tenant, None), TELLING);
        }
        let (loaded, bytes) = host.loaded_plugins();
        assert_eq!(loaded, 1, "one compiled plugin for three tenants");
        assert!(bytes > 0);
        assert!(matches!(
            host.call_version(&tenants[0], Some(9), |plugin| plugin.get_all_records()),
            Err(Error::Deploy(DeployError::NoSuchVersion { number: 9, .. }))
        ));
    }
}
