//! The language switch in the header: `lang?to=it&next=automations` remembers the choice in the
//! `lang` cookie (a year) and goes back to the page it came from.

use crate::error::Failure;
use crate::i18n::{LANG_COOKIE, Lang};
use crate::page::{Page, safe_next, see_other};
use crate::session::{SameSite, add_cookie, set_cookie};
use axum::extract::Query;
use axum::response::Response;
use serde::Deserialize;

const YEAR: i64 = 365 * 24 * 3600;

#[derive(Deserialize)]
pub struct LangQuery {
    to: String,
    #[serde(default)]
    next: String,
}

pub async fn switch(page: Page, Query(query): Query<LangQuery>) -> Result<Response, Failure> {
    let lang = Lang::parse(&query.to).ok_or_else(|| Failure::malformed(format!("no language `{}`", query.to)))?;
    let next = safe_next(&query.next).unwrap_or("automations");
    let mut response = see_other(&format!("{}{next}", page.request_root));
    let cookie = set_cookie(LANG_COOKIE, lang.code(), YEAR, SameSite::Lax, true, page.secure_cookies());
    add_cookie(&mut response, &cookie)?;
    Ok(response)
}
