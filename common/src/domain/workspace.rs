//! The workspace document (SPEC §3): timezone, working hours, holidays,
//! WhatsApp credentials, the webhook secret and templates.

use super::contact::ConsentChoice;
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

/// The WhatsApp Cloud API number a workspace sends from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppAccount {
    pub phone_number_id: String,
    #[serde(default)]
    pub access_token: Option<Secret>,
}

/// A template's review status at Meta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateStatus {
    Approved,
    Pending,
    Rejected,
    Paused,
    Disabled,
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

/// A pre-approved message with `{{1}}`… placeholders in its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: TemplateName,
    pub language: Language,
    pub status: TemplateStatus,
    /// Absent: `marketing` (the strictest: not sent to contacts who opted out).
    #[serde(default)]
    pub category: TemplateCategory,
    pub body: String,
    /// Quick-reply button titles, if the template has any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<String>,
}

impl Template {
    /// How many params a send must supply: the highest `{{n}}` in the body.
    pub fn placeholder_count(&self) -> usize {
        let mut highest = 0;
        let mut rest = self.body.as_str();
        while let Some(open) = rest.find("{{") {
            rest = &rest[open + 2..];
            if let Some(close) = rest.find("}}") {
                if let Ok(n) = rest[..close].trim().parse::<usize>() {
                    highest = highest.max(n);
                }
            }
        }
        highest
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
            "whatsapp": self.whatsapp.as_ref().map(|w| serde_json::json!({
                "phone_number_id": w.phone_number_id,
                "access_token": w.access_token.as_ref().map(Secret::expose),
            })),
            "webhook_secret": self.webhook_secret.as_ref().map(Secret::expose),
            "templates": self.templates,
            "consent": self.consent,
        })
    }

    /// The document as the API returns it: secrets left out, their presence shown.
    pub fn public_view(&self) -> serde_json::Value {
        serde_json::json!({
            "timezone": self.timezone,
            "working_hours": self.working_hours,
            "holidays": self.holidays,
            "whatsapp": self.whatsapp.as_ref().map(|w| serde_json::json!({
                "phone_number_id": w.phone_number_id,
                "access_token_set": w.access_token.is_some(),
            })),
            "webhook_secret_set": self.webhook_secret.is_some(),
            "templates": self.templates,
            "consent": self.consent,
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
