//! Automation files as `avvio validate` and `simulate` read them (`common/src/validate.rs`,
//! `common/src/domain/automation.rs`): any text is read and checked, alone and as a set,
//! against no workspace and against the example one, never a panic; an automation read
//! reads back as itself from what the store writes.
#![no_main]

use avvio_common::domain::workspace::Workspace;
use avvio_common::validate::{check_automation, check_set, parse_automation, read_documents};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static WORKSPACE: LazyLock<Workspace> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../examples/workspace.json")).expect("the example workspace reads")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(documents) = read_documents("fuzz.json", text) else { return };
    for document in &documents {
        let Ok(automation) = parse_automation(document.value.clone()) else { continue };
        let _ = check_automation(&automation, None);
        let _ = check_automation(&automation, Some(&WORKSPACE));
        let stored = serde_json::to_value(&automation).expect("an automation serialises");
        assert_eq!(parse_automation(stored.clone()).as_ref(), Ok(&automation), "{stored}");
    }
    let _ = check_set(documents.clone(), None);
    let _ = check_set(documents, Some(&WORKSPACE));
});
