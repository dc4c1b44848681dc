//! Function settings from `template.yaml`, the SAM template that deploys them.

use serde_json::Value;

/// `property` (`MemorySize`, `Timeout`) of `function`'s resource in template.yaml.
///
/// # Panics
/// When the template is unreadable or does not set it: the benchmark would otherwise report
/// against a made-up setting.
pub fn property(function: &str, property: &str) -> u64 {
    let path = offpeak_tests::workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let template: Value = serde_saphyr::from_str(&text).expect("template.yaml parses");
    template["Resources"]
        .as_object()
        .expect("template.yaml has Resources")
        .values()
        .find(|r| r["Properties"]["CodeUri"] == format!("functions/{function}"))
        .and_then(|r| r["Properties"][property].as_u64())
        .unwrap_or_else(|| panic!("template.yaml sets no {property} for {function}"))
}
