//! Documents in words, in the page's language: what a page shows instead of JSON
//! (a trigger as a sentence). Each function takes the [`Texts`] and builds from their fragments.

use crate::i18n::Texts;
use avvio_common::domain::Trigger;
use avvio_common::domain::contact::ConsentChoice;
use std::fmt::Display;

fn quoted(t: &Texts, value: impl Display) -> String {
    format!("{}{value}{}", t.quote_open, t.quote_close)
}

/// When an automation starts, in a sentence: `A customer writes “Vorrei informazioni”`.
pub fn trigger(t: &Texts, trigger: &Trigger) -> String {
    match trigger {
        Trigger::CustomerMessage { phrase } => format!("{} {}", t.trigger_customer_message, quoted(t, phrase)),
        Trigger::Integration { .. } => t.trigger_integration.to_string(),
        Trigger::List { list } => format!("{} {}", t.trigger_list, quoted(t, list)),
        Trigger::Date { field, offset_days, time, annual } => {
            let mut words = format!("{} {}", t.trigger_date, quoted(t, field));
            let days = offset_days.unsigned_abs();
            match (offset_days.signum(), days) {
                (0, _) => {}
                (-1, 1) => words += &format!(", 1 {}", t.day_before),
                (-1, _) => words += &format!(", {days} {}", t.days_before),
                (_, 1) => words += &format!(", 1 {}", t.day_after),
                _ => words += &format!(", {days} {}", t.days_after),
            }
            words += &format!(", {} {}", t.at_time, time.0.format("%H:%M"));
            if *annual {
                words += &format!(", {}", t.every_year);
            }
            words
        }
        Trigger::OutsideHours { .. } => t.trigger_outside_hours.to_string(),
        Trigger::Holiday { .. } => t.trigger_holiday.to_string(),
        Trigger::Consent { marketing: ConsentChoice::OptedIn } => t.trigger_opted_in.to_string(),
        Trigger::Consent { marketing: ConsentChoice::OptedOut } => t.trigger_opted_out.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{EN, IT};
    use serde_json::json;

    fn read(value: serde_json::Value) -> Trigger {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_phrase_trigger_quotes_the_phrase_in_each_language() {
        let phrase = read(json!({"type": "customer_message", "phrase": "Vorrei informazioni"}));
        assert_eq!(trigger(&EN, &phrase), "A customer writes “vorrei informazioni”");
        assert_eq!(trigger(&IT, &phrase), "Un cliente scrive «vorrei informazioni»");
    }

    #[test]
    fn a_date_trigger_says_the_field_the_offset_the_time_and_the_repetition() {
        let date =
            read(json!({"type": "date", "field": "appuntamento", "offset_days": -1, "time": "18:00", "annual": false}));
        assert_eq!(trigger(&EN, &date), "Date in the field “appuntamento”, 1 day before, at 18:00");
        let birthday = read(json!({"type": "date", "field": "birthday", "time": "09:00", "annual": true}));
        assert_eq!(trigger(&IT, &birthday), "Data nel campo «birthday», alle 09:00, ogni anno");
        let later = read(json!({"type": "date", "field": "ordine", "offset_days": 3, "time": "10:30"}));
        assert_eq!(trigger(&EN, &later), "Date in the field “ordine”, 3 days after, at 10:30");
    }
}
