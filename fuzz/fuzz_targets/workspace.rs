//! The workspace document as `PUT /v1/workspace` reads it (`common/src/domain/workspace.rs`):
//! any JSON is read or refused with its path, never a panic; its templates are checked as
//! Meta would, its calendar answers, and the stored view reads back as the same document.
#![no_main]

use avvio_common::calendar::{is_holiday, next_opening};
use avvio_common::domain::workspace::Workspace;
use avvio_common::time::Time;
use avvio_common::validate::{parse_document, validate_template};
use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(workspace) = parse_document::<Workspace>(value) else { return };
    for template in &workspace.templates {
        let _ = validate_template(template);
        let _ = (template.placeholder_count(), template.parameter_names());
    }
    let now: Time = "2026-03-29T00:30:00Z".parse().expect("a time");
    let _ = next_opening(workspace.timezone, workspace.working_hours.as_ref(), &workspace.holidays, now);
    for day in [NaiveDate::from_ymd_opt(2026, 4, 6), NaiveDate::from_ymd_opt(2028, 2, 29)].into_iter().flatten() {
        let _ = is_holiday(&workspace.holidays, day);
    }
    let stored = workspace.stored_view();
    let again: Workspace = serde_json::from_value(stored.clone()).expect("the stored view reads back");
    assert_eq!(again.stored_view(), stored);
    let _ = workspace.public_view();
});
