//! The workspace document (SPEC §3): timezone, working hours, holidays,
//! WhatsApp credentials, the webhook secret and templates.

use super::contact::ConsentChoice;
use super::duration::Duration;
use super::ids::{Language, TemplateName};
use super::phrase::{Phrase, Wording};
use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// An IANA timezone (`Europe/Rome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timezone(pub chrono_tz::Tz);

impl Serialize for Timezone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de> Deserialize<'de> for Timezone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse::<chrono_tz::Tz>()
            .map(Timezone)
            .map_err(|_| serde::de::Error::custom(format!("`{raw}` is not an IANA timezone (e.g. Europe/Rome)")))
    }
}

/// A day of the week as the workspace document names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    /// Every day of the week, Monday first.
    pub const ALL: [Day; 7] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri, Day::Sat, Day::Sun];
}

/// Read from a plain string (not as an enum) so an error path names the day: `working_hours.mon[0]`.
impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(match raw.as_str() {
            "mon" => Self::Mon,
            "tue" => Self::Tue,
            "wed" => Self::Wed,
            "thu" => Self::Thu,
            "fri" => Self::Fri,
            "sat" => Self::Sat,
            "sun" => Self::Sun,
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "`{raw}` is not a day: use mon, tue, wed, thu, fri, sat, sun"
                )));
            }
        })
    }
}

impl From<chrono::Weekday> for Day {
    fn from(w: chrono::Weekday) -> Self {
        use chrono::Weekday::*;
        match w {
            Mon => Day::Mon,
            Tue => Day::Tue,
            Wed => Day::Wed,
            Thu => Day::Thu,
            Fri => Day::Fri,
            Sat => Day::Sat,
            Sun => Day::Sun,
        }
    }
}

/// `"09:00-13:00"`: open from `start` (inclusive) to `end` (exclusive); `end` may be `24:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: NaiveTime,
    /// `None` means midnight at the end of the day (`24:00`).
    pub end: Option<NaiveTime>,
}

impl TimeRange {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || format!("`{raw}` is not a time range: write e.g. \"09:00-13:00\"");
        let (start, end) = raw.split_once('-').ok_or_else(bad)?;
        let start = NaiveTime::parse_from_str(start.trim(), "%H:%M").map_err(|_| bad())?;
        let end = match end.trim() {
            "24:00" => None,
            end => Some(NaiveTime::parse_from_str(end, "%H:%M").map_err(|_| bad())?),
        };
        if matches!(end, Some(end) if end <= start) {
            return Err(format!("`{raw}` ends before it starts"));
        }
        Ok(Self { start, end })
    }

    pub fn contains(&self, t: NaiveTime) -> bool {
        t >= self.start && self.end.is_none_or(|end| t < end)
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(end) => write!(f, "{}-{}", self.start.format("%H:%M"), end.format("%H:%M")),
            None => write!(f, "{}-24:00", self.start.format("%H:%M")),
        }
    }
}

impl Serialize for TimeRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Opening hours per weekday; a day left out is closed. `None` for the whole
/// map (no `working_hours` in the document) means always open.
pub type WorkingHours = BTreeMap<Day, Vec<TimeRange>>;

/// A holiday: `YYYY-MM-DD` (once), `MM-DD` (every year), `easter`, `easter_monday`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holiday {
    Once(chrono::NaiveDate),
    Yearly { month: u32, day: u32 },
    Easter,
    EasterMonday,
}

impl Holiday {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "easter" => return Ok(Self::Easter),
            "easter_monday" => return Ok(Self::EasterMonday),
            _ => {}
        }
        if let Ok(date) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            return Ok(Self::Once(date));
        }
        // Any leap year validates an MM-DD, so 02-29 is accepted.
        if let Ok(date) = chrono::NaiveDate::parse_from_str(&format!("2000-{raw}"), "%Y-%m-%d") {
            if raw.len() == 5 {
                use chrono::Datelike;
                return Ok(Self::Yearly { month: date.month(), day: date.day() });
            }
        }
        Err(format!("`{raw}` is not a holiday: write YYYY-MM-DD, MM-DD, easter or easter_monday"))
    }
}

impl fmt::Display for Holiday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Once(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Self::Yearly { month, day } => write!(f, "{month:02}-{day:02}"),
            Self::Easter => f.write_str("easter"),
            Self::EasterMonday => f.write_str("easter_monday"),
        }
    }
}

impl Serialize for Holiday {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Holiday {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A write-only secret: accepted on input, never serialised back out in full.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The WhatsApp Cloud API number a workspace sends from, and how fast and how long it may try.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppAccount {
    pub phone_number_id: String,
    /// The WhatsApp Business Account whose templates `POST /v1/templates/sync` reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waba_id: Option<String>,
    #[serde(default)]
    pub access_token: Option<Secret>,
    /// The most messages per second the number sends (SPEC §2.6): 1 to 1000, default 80.
    #[serde(default = "WhatsAppAccount::default_max_sends_per_second", deserialize_with = "send_rate")]
    pub max_sends_per_second: u32,
    /// How long a send Meta throttles or fails transiently is retried (default 4h).
    #[serde(default = "WhatsAppAccount::default_retry_for")]
    pub retry_for: super::duration::Duration,
}

/// `max_sends_per_second`: a whole number from 1 to [`WhatsAppAccount::MAX_SENDS_PER_SECOND`].
fn send_rate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let rate = u64::deserialize(d)?;
    u32::try_from(rate).ok().filter(|r| (1..=WhatsAppAccount::MAX_SENDS_PER_SECOND).contains(r)).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "max_sends_per_second must be from 1 to {} (Meta's highest tier), not {rate}",
            WhatsAppAccount::MAX_SENDS_PER_SECOND
        ))
    })
}

impl WhatsAppAccount {
    pub const MAX_SENDS_PER_SECOND: u32 = 1000;

    fn default_max_sends_per_second() -> u32 {
        80
    }

    fn default_retry_for() -> super::duration::Duration {
        super::duration::Duration::from_secs(4 * 3600)
    }

    /// An account with the defaults, for `phone_number_id`.
    pub fn new(phone_number_id: impl Into<String>, access_token: Option<Secret>) -> Self {
        Self {
            phone_number_id: phone_number_id.into(),
            waba_id: None,
            access_token,
            max_sends_per_second: Self::default_max_sends_per_second(),
            retry_for: Self::default_retry_for(),
        }
    }

    /// The document's `whatsapp` object; the token only when `secrets` (a store's view).
    fn view(&self, secrets: bool) -> serde_json::Value {
        let mut view = serde_json::json!({
            "phone_number_id": self.phone_number_id,
            "max_sends_per_second": self.max_sends_per_second,
            "retry_for": self.retry_for,
        });
        if let Some(waba) = &self.waba_id {
            view["waba_id"] = serde_json::json!(waba);
        }
        if secrets {
            view["access_token"] = serde_json::json!(self.access_token.as_ref().map(Secret::expose));
        } else {
            view["access_token_set"] = serde_json::json!(self.access_token.is_some());
        }
        view
    }
}

/// A template's review status at Meta. Only `approved` ones are sent; the statuses after
/// `disabled` are Meta's rarer ones, kept as Meta names them so a synced list says what Meta says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Approved,
    Pending,
    Rejected,
    Paused,
    Disabled,
    /// Rejected, and the business appealed the rejection.
    InAppeal,
    /// Deleted at Meta, its name not yet free again.
    PendingDeletion,
    Deleted,
    Archived,
    /// Over the account's template limit.
    LimitExceeded,
}

/// A template's category at Meta: marketing templates are not sent to contacts who opted out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateCategory {
    #[default]
    Marketing,
    Utility,
    Authentication,
}

/// How a template's placeholders are written: `{{1}}`, `{{2}}`… or `{{first_name}}`…
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParameterFormat {
    #[default]
    Positional,
    Named,
}

/// The format of a template's header component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderFormat {
    Text,
    Image,
    Video,
    Document,
    Location,
}

/// A template's header: its format, and for a text header its text (which may hold one
/// placeholder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateHeader {
    pub format: HeaderFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The kind of a template button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateButtonKind {
    QuickReply,
    Url,
    CopyCode,
    PhoneNumber,
}

/// A button of a template, as Meta approved it: a quick reply, a URL (which may end in a
/// `{{1}}` the send fills), a copy-code or a phone number button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateButton {
    #[serde(rename = "type")]
    pub kind: TemplateButtonKind,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

impl TemplateButton {
    /// A quick-reply button titled `text`.
    pub fn quick_reply(text: impl Into<String>) -> Self {
        Self { kind: TemplateButtonKind::QuickReply, text: text.into(), url: None, phone_number: None }
    }
}

/// Template buttons as written: objects, or (the form before rich templates) quick-reply titles.
pub(crate) fn template_buttons<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<TemplateButton>, D::Error> {
    // Read as values first, so a malformed button object is refused with its own error (an
    // untagged enum would only say that nothing matched).
    Vec::<serde_json::Value>::deserialize(d)?
        .into_iter()
        .map(|value| match value {
            serde_json::Value::String(title) => Ok(TemplateButton::quick_reply(title)),
            object => serde_json::from_value::<TemplateButton>(object).map_err(serde::de::Error::custom),
        })
        .collect()
}

/// A pre-approved message (SPEC §2.5, §3): its body with `{{1}}`… (positional) or
/// `{{first_name}}`… (named) placeholders, and what Meta approved around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: TemplateName,
    pub language: Language,
    pub status: TemplateStatus,
    /// Absent: `marketing` (the strictest: not sent to contacts who opted out).
    #[serde(default)]
    pub category: TemplateCategory,
    #[serde(default)]
    pub parameter_format: ParameterFormat,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<TemplateHeader>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "template_buttons")]
    pub buttons: Vec<TemplateButton>,
}

/// The placeholders written in `text`, in order of first appearance: `{{1}}` as `"1"`,
/// `{{first_name}}` as `"first_name"` (inner spaces trimmed).
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        rest = &rest[open + 2..];
        let Some(close) = rest.find("}}") else { break };
        let name = rest[..close].trim();
        if !name.is_empty() && !found.iter().any(|f| f == name) {
            found.push(name.to_string());
        }
        rest = &rest[close + 2..];
    }
    found
}

impl Template {
    /// How many params a positional send must supply: the highest `{{n}}` in the body.
    pub fn placeholder_count(&self) -> usize {
        placeholders(&self.body).iter().filter_map(|p| p.parse::<usize>().ok()).max().unwrap_or(0)
    }

    /// The names a named send must supply, in order of first appearance in the body.
    pub fn parameter_names(&self) -> Vec<String> {
        placeholders(&self.body)
    }
}

/// The workspace document as stored: everything the engine needs to decide.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workspace {
    pub timezone: Timezone,
    #[serde(default)]
    pub working_hours: Option<WorkingHours>,
    #[serde(default)]
    pub holidays: Vec<Holiday>,
    #[serde(default)]
    pub whatsapp: Option<WhatsAppAccount>,
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    #[serde(default)]
    pub templates: Vec<Template>,
    #[serde(default)]
    pub consent: ConsentPhrases,
    /// How long a run is kept once it ended (1 to 366 days; 90 days when absent). Applies to
    /// the runs that start after it is set.
    #[serde(default = "runs_retention_default", deserialize_with = "runs_retention")]
    pub runs_retention: Duration,
}

fn runs_retention_default() -> Duration {
    crate::domain::run::RUNS_RETENTION
}

/// A `runs_retention`: a duration of at least one day.
fn runs_retention<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let retention = Duration::deserialize(d)?;
    if retention < Duration::from_secs(86_400) {
        return Err(serde::de::Error::custom(format!("runs are kept at least 1d, not {retention}")));
    }
    Ok(retention)
}

/// The messages that change a contact's marketing consent (SPEC §2.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentPhrases {
    #[serde(default = "ConsentPhrases::default_opt_out")]
    pub opt_out_phrases: Vec<Wording>,
    #[serde(default = "ConsentPhrases::default_opt_in")]
    pub opt_in_phrases: Vec<Wording>,
}

impl Default for ConsentPhrases {
    fn default() -> Self {
        Self { opt_out_phrases: Self::default_opt_out(), opt_in_phrases: Self::default_opt_in() }
    }
}

impl ConsentPhrases {
    fn default_opt_out() -> Vec<Wording> {
        vec![Wording::parse("STOP").expect("a phrase")]
    }

    fn default_opt_in() -> Vec<Wording> {
        vec![Wording::parse("START").expect("a phrase")]
    }

    /// The consent a message saying `phrases` (its normalised candidates) asks for; an
    /// opt-out phrase wins over an opt-in one.
    pub fn choice(&self, phrases: &[Phrase]) -> Option<ConsentChoice> {
        let says = |list: &[Wording]| list.iter().any(|w| phrases.contains(w.phrase()));
        if says(&self.opt_out_phrases) {
            Some(ConsentChoice::OptedOut)
        } else if says(&self.opt_in_phrases) {
            Some(ConsentChoice::OptedIn)
        } else {
            None
        }
    }
}

impl Workspace {
    /// A template by name and language.
    pub fn template(&self, name: &TemplateName, language: &Language) -> Option<&Template> {
        self.templates.iter().find(|t| &t.name == name && &t.language == language)
    }

    /// The whole document, secrets included, as a store persists it (never an API answer).
    /// Reads back with `serde_json::from_value::<Workspace>`.
    pub fn stored_view(&self) -> serde_json::Value {
        serde_json::json!({
            "timezone": self.timezone,
            "working_hours": self.working_hours,
            "holidays": self.holidays,
            "whatsapp": self.whatsapp.as_ref().map(|w| w.view(true)),
            "webhook_secret": self.webhook_secret.as_ref().map(Secret::expose),
            "templates": self.templates,
            "consent": self.consent,
            "runs_retention": self.runs_retention,
        })
    }

    /// The document as the API returns it: secrets left out, their presence shown.
    pub fn public_view(&self) -> serde_json::Value {
        serde_json::json!({
            "timezone": self.timezone,
            "working_hours": self.working_hours,
            "holidays": self.holidays,
            "whatsapp": self.whatsapp.as_ref().map(|w| w.view(false)),
            "webhook_secret_set": self.webhook_secret.is_some(),
            "templates": self.templates,
            "consent": self.consent,
            "runs_retention": self.runs_retention,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_workspace_document_parses() {
        let ws: Workspace = serde_json::from_str(
            r#"{
              "timezone": "Europe/Rome",
              "working_hours": { "mon": ["09:00-13:00", "14:00-18:00"], "sat": [], "sun": [] },
              "holidays": ["2026-12-08", "12-25", "easter_monday", "easter"],
              "whatsapp": { "phone_number_id": "106540352242922", "access_token": "EAAG" },
              "webhook_secret": "s3cret",
              "templates": [ { "name": "welcome", "language": "it", "status": "approved",
                               "body": "Ciao {{1}}, grazie per averci scritto! {{2}}" } ]
            }"#,
        )
        .unwrap();
        assert_eq!(ws.timezone.0, chrono_tz::Europe::Rome);
        assert_eq!(ws.holidays[1], Holiday::Yearly { month: 12, day: 25 });
        assert_eq!(ws.templates[0].placeholder_count(), 2);
        let public = ws.public_view().to_string();
        assert!(!public.contains("EAAG") && !public.contains("s3cret"), "{public}");
        let stored: Workspace = serde_json::from_value(ws.stored_view()).unwrap();
        assert_eq!(stored.webhook_secret.as_ref().map(Secret::expose), Some("s3cret"));
        assert_eq!(stored.whatsapp.unwrap().access_token.as_ref().map(Secret::expose), Some("EAAG"));
        assert_eq!(stored.templates, ws.templates);
    }

    #[test]
    fn a_rich_template_reads_as_meta_has_it_and_old_button_titles_still_read() {
        let template: Template = serde_json::from_value(serde_json::json!({
            "name": "promo_natale", "language": "it", "status": "approved", "category": "marketing",
            "parameter_format": "named", "body": "Ciao {{first_name}}, per te il {{sconto}} di sconto! {{first_name}}",
            "header": { "format": "image" },
            "buttons": [ { "type": "url", "text": "Scopri", "url": "https://shop.example.com/{{1}}" },
                         { "type": "quick_reply", "text": "Non mi interessa" } ]
        }))
        .unwrap();
        assert_eq!(template.parameter_format, ParameterFormat::Named);
        assert_eq!(template.parameter_names(), ["first_name", "sconto"]);
        assert_eq!(template.header, Some(TemplateHeader { format: HeaderFormat::Image, text: None }));
        assert_eq!(template.buttons[0].kind, TemplateButtonKind::Url);
        let old: Template = serde_json::from_value(serde_json::json!({
            "name": "scelta", "language": "it", "status": "approved", "body": "Scegli", "buttons": ["Sì", "No"]
        }))
        .unwrap();
        assert_eq!(old.buttons, [TemplateButton::quick_reply("Sì"), TemplateButton::quick_reply("No")]);
        assert_eq!(old.parameter_format, ParameterFormat::Positional, "the default");
        let bad = serde_json::from_value::<Template>(serde_json::json!({
            "name": "x", "language": "it", "status": "approved", "body": "x", "buttons": [ { "type": "link", "text": "x" } ]
        }));
        assert!(bad.unwrap_err().to_string().contains("link"), "the unknown type is named");
    }

    #[test]
    fn the_whatsapp_account_has_meta_s_defaults_and_keeps_its_token_out_of_the_public_view() {
        let ws: Workspace = serde_json::from_value(serde_json::json!({
            "timezone": "Europe/Rome",
            "whatsapp": { "phone_number_id": "1065", "waba_id": "1022", "access_token": "EAAG" }
        }))
        .unwrap();
        let account = ws.whatsapp.as_ref().unwrap();
        assert_eq!((account.max_sends_per_second, account.retry_for.as_secs()), (80, 4 * 3600));
        let public = ws.public_view();
        assert_eq!(public["whatsapp"]["waba_id"], "1022");
        assert_eq!(public["whatsapp"]["retry_for"], "4h");
        assert!(!public.to_string().contains("EAAG"));
        let stored: Workspace = serde_json::from_value(ws.stored_view()).unwrap();
        assert_eq!(stored.whatsapp, ws.whatsapp);
    }

    #[test]
    fn a_send_rate_outside_1_to_1000_is_refused_by_name() {
        for bad in [0, 1001, 5000] {
            let doc = serde_json::json!({ "timezone": "Europe/Rome",
                "whatsapp": { "phone_number_id": "1065", "max_sends_per_second": bad } });
            let error = serde_json::from_value::<Workspace>(doc).unwrap_err().to_string();
            assert!(error.contains("max_sends_per_second must be from 1 to 1000"), "{bad}: {error}");
        }
    }

    #[test]
    fn bad_ranges_holidays_and_zones_are_refused() {
        assert!(TimeRange::parse("18:00-09:00").is_err());
        assert!(TimeRange::parse("9-13").is_err());
        assert_eq!(TimeRange::parse("00:00-24:00").unwrap().end, None);
        assert!(Holiday::parse("13-01").is_err());
        assert!(Holiday::parse("christmas").is_err());
        assert_eq!(Holiday::parse("02-29").unwrap(), Holiday::Yearly { month: 2, day: 29 });
        assert!(serde_json::from_str::<Timezone>("\"Europe/Milano\"").is_err());
    }
}
