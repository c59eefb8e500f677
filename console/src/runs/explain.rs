//! Error codes in words: what a failed or skipped step's code (or a cancelled run's reason)
//! means and what to do about it, in English and Italian.
//!
//! The codes come from three places, all listed in [`EXPLANATIONS`]:
//! - the engine (`avvio_common::engine::codes`, and `whatsapp_not_configured` of the executor);
//! - the WhatsApp sender (`avvio-http`): `timeout`, `connection`, `invalid_request`,
//!   `invalid_response`, `invalid_phone_number_id`, `http_<status>` for an answer without
//!   Meta's code, and otherwise Meta's own numeric code;
//! - SPEC §2.6: `marketing_limit` (Meta's 131049).
//!
//! Meta's numeric codes named by the spec, the README or the sender's classification have their
//! own words; any other all-digit code is said to be Meta's. A code nobody knows has no
//! explanation: the page shows the code alone. The unit tests check every code the engine and
//! the sender define, and every code `docs/automations.md` lists, against this table.

use crate::i18n::Lang;
use avvio_common::domain::automation::ActionKind;

/// `(code, English, Italian)`.
pub const EXPLANATIONS: &[(&str, &str, &str)] = &[
    // --- the engine (SPEC §2 and Avvio's own)
    (
        "missing_variable",
        "A placeholder such as {{fields.city}} had no value for this contact and no default. Give it a default \
         ({{fields.city|Milano}}) or fill the contact's field.",
        "Un segnaposto come {{fields.city}} non aveva un valore per questo contatto, né un valore predefinito. \
         Aggiungi un predefinito ({{fields.city|Milano}}) o compila il campo del contatto.",
    ),
    (
        "outside_customer_service_window",
        "Free messages (texts, buttons) can only be sent within 24 hours of the contact's last message. To write \
         first, send an approved template.",
        "I messaggi liberi (testi, pulsanti) si possono inviare solo entro 24 ore dall'ultimo messaggio del \
         contatto. Per scrivere per primi, invia un template approvato.",
    ),
    (
        "template_not_approved",
        "The template is not in the workspace in this language, or WhatsApp has not approved it (pending, \
         rejected, paused or disabled). Check it in Templates.",
        "Il template non c'è nel workspace in questa lingua, oppure WhatsApp non l'ha approvato (in attesa, \
         rifiutato, in pausa o disattivato). Controllalo in Template.",
    ),
    (
        "template_params_mismatch",
        "The step gives the template a different number or kind of parameters than the template has.",
        "Lo step passa al template un numero o un tipo di parametri diverso da quello del template.",
    ),
    (
        "automation_disabled",
        "The automation was turned off or deleted after this run started, so its remaining steps were cancelled.",
        "L'automazione è stata spenta o eliminata dopo l'avvio di questa esecuzione, quindi gli step rimasti sono \
         stati annullati.",
    ),
    (
        "contact_blocked",
        "The contact is blocked: nothing is sent to them, and their pending steps are cancelled.",
        "Il contatto è bloccato: non gli viene inviato nulla e i suoi step in sospeso vengono annullati.",
    ),
    (
        "contact_deleted",
        "The contact was deleted while this run was going on, so its remaining steps were cancelled.",
        "Il contatto è stato eliminato mentre questa esecuzione era in corso, quindi gli step rimasti sono stati \
         annullati.",
    ),
    (
        "loop_detected",
        "Runs starting other runs (lists, “Start another automation”, consent changes) went more than 8 levels \
         deep, so this one was refused to stop a loop.",
        "Esecuzioni che ne avviano altre (liste, «Avvia un'altra automazione», cambi di consenso) sono andate oltre \
         8 livelli, quindi questa è stata rifiutata per fermare un ciclo.",
    ),
    (
        "automation_not_found",
        "The automation to start does not exist, or was deleted.",
        "L'automazione da avviare non esiste, o è stata eliminata.",
    ),
    (
        "marketing_opt_out",
        "The contact opted out of marketing messages (or WhatsApp said so, and Avvio recorded it), so this \
         marketing template was not sent.",
        "Il contatto ha rifiutato i messaggi di marketing (o WhatsApp lo ha segnalato, e Avvio lo ha registrato), \
         quindi questo template di marketing non è stato inviato.",
    ),
    (
        "text_too_long",
        "With its placeholders filled in, the text is longer than WhatsApp accepts (4096 characters for a text, \
         1024 for a message with buttons).",
        "Con i segnaposto compilati il testo è più lungo di quanto WhatsApp accetti (4096 caratteri per un testo, \
         1024 per un messaggio con pulsanti).",
    ),
    (
        "send_unconfirmed",
        "Avvio stopped after recording the send and before WhatsApp's answer was recorded. The message may have \
         gone out; it is never sent a second time.",
        "Avvio si è fermato dopo aver registrato l'invio e prima di registrare la risposta di WhatsApp. Il \
         messaggio potrebbe essere partito; non viene mai inviato una seconda volta.",
    ),
    (
        "delivery_failed",
        "WhatsApp accepted the message, then reported that it could not be delivered.",
        "WhatsApp ha accettato il messaggio, poi ha segnalato che non è stato possibile consegnarlo.",
    ),
    (
        "webhook_failed",
        "The webhook's address answered with an error (4xx), or kept failing (5xx, no answer) after the retries.",
        "L'indirizzo del webhook ha risposto con un errore (4xx), o ha continuato a fallire (5xx, nessuna \
         risposta) dopo i tentativi.",
    ),
    (
        "whatsapp_not_configured",
        "The workspace has no WhatsApp number or access token, so nothing could be sent. Set them in Workspace.",
        "Il workspace non ha un numero WhatsApp o un token di accesso, quindi non si può inviare nulla. Impostali \
         in Workspace.",
    ),
    (
        "marketing_limit",
        "WhatsApp held back this marketing message: the contact has received enough marketing messages for now.",
        "WhatsApp ha trattenuto questo messaggio di marketing: il contatto ne ha ricevuti abbastanza per ora.",
    ),
    // --- the WhatsApp sender
    (
        "timeout",
        "WhatsApp did not answer in time, even after retrying.",
        "WhatsApp non ha risposto in tempo, nemmeno riprovando.",
    ),
    (
        "connection",
        "Avvio could not reach WhatsApp, even after retrying.",
        "Avvio non è riuscito a raggiungere WhatsApp, nemmeno riprovando.",
    ),
    (
        "invalid_request",
        "Avvio could not build the request to WhatsApp.",
        "Avvio non è riuscito a preparare la richiesta a WhatsApp.",
    ),
    (
        "invalid_response",
        "WhatsApp answered in a way Avvio could not read. The message may have been sent, so it is not sent again.",
        "WhatsApp ha risposto in un modo che Avvio non sa leggere. Il messaggio potrebbe essere partito, quindi \
         non viene inviato di nuovo.",
    ),
    (
        "invalid_phone_number_id",
        "The workspace's phone_number_id is not a WhatsApp id (digits only). Fix it in Workspace.",
        "Il phone_number_id del workspace non è un id WhatsApp (solo cifre). Correggilo in Workspace.",
    ),
    // --- Meta's codes (WhatsApp Cloud API)
    (
        "131047",
        "More than 24 hours have passed since the contact last wrote: WhatsApp accepts only templates now.",
        "Sono passate più di 24 ore dall'ultimo messaggio del contatto: ora WhatsApp accetta solo template.",
    ),
    (
        "131026",
        "WhatsApp could not deliver the message to this number (it may not be on WhatsApp, or may use an old \
         version).",
        "WhatsApp non ha potuto consegnare il messaggio a questo numero (potrebbe non essere su WhatsApp, o usare \
         una versione vecchia).",
    ),
    (
        "131049",
        "WhatsApp held back this marketing message: the contact has received enough marketing messages for now.",
        "WhatsApp ha trattenuto questo messaggio di marketing: il contatto ne ha ricevuti abbastanza per ora.",
    ),
    (
        "131050",
        "The contact stopped marketing messages from this business in WhatsApp.",
        "Il contatto ha interrotto in WhatsApp i messaggi di marketing di questa attività.",
    ),
    (
        "131056",
        "Too many messages to this contact in a short time. Avvio retried, then gave up.",
        "Troppi messaggi a questo contatto in poco tempo. Avvio ha riprovato, poi ha rinunciato.",
    ),
    (
        "131057",
        "The WhatsApp Business account is in maintenance. Avvio retried, then gave up.",
        "L'account WhatsApp Business è in manutenzione. Avvio ha riprovato, poi ha rinunciato.",
    ),
    (
        "130429",
        "The number reached WhatsApp's sending rate. Avvio retried, then gave up.",
        "Il numero ha raggiunto il limite di invio di WhatsApp. Avvio ha riprovato, poi ha rinunciato.",
    ),
    (
        "80007",
        "The WhatsApp Business account reached its rate limit. Avvio retried, then gave up.",
        "L'account WhatsApp Business ha raggiunto il suo limite. Avvio ha riprovato, poi ha rinunciato.",
    ),
    (
        "131000",
        "Something went wrong at WhatsApp. Avvio retried, then gave up.",
        "Qualcosa non ha funzionato in WhatsApp. Avvio ha riprovato, poi ha rinunciato.",
    ),
    (
        "131016",
        "WhatsApp's service was unavailable. Avvio retried, then gave up.",
        "Il servizio di WhatsApp non era disponibile. Avvio ha riprovato, poi ha rinunciato.",
    ),
    (
        "2",
        "WhatsApp's API was temporarily down. Avvio retried, then gave up.",
        "L'API di WhatsApp era temporaneamente non disponibile. Avvio ha riprovato, poi ha rinunciato.",
    ),
    (
        "4",
        "Too many calls to WhatsApp's API. Avvio retried, then gave up.",
        "Troppe chiamate all'API di WhatsApp. Avvio ha riprovato, poi ha rinunciato.",
    ),
    (
        "132000",
        "WhatsApp says the number of parameters does not match its copy of the template.",
        "Per WhatsApp il numero di parametri non corrisponde alla sua copia del template.",
    ),
    (
        "132001",
        "WhatsApp does not know this template in this language (or has not approved it yet). Sync the templates.",
        "WhatsApp non conosce questo template in questa lingua (o non l'ha ancora approvato). Sincronizza i \
         template.",
    ),
    (
        "100",
        "WhatsApp found an invalid parameter in the message.",
        "WhatsApp ha trovato un parametro non valido nel messaggio.",
    ),
    (
        "190",
        "The WhatsApp access token has expired or is not valid. Set a new one in Workspace.",
        "Il token di accesso WhatsApp è scaduto o non è valido. Impostane uno nuovo in Workspace.",
    ),
];

/// What `code` means, in `lang`; `None` for a code nobody knows (show the code alone).
/// `action` is the step's kind, when the code is a step's: `automation_disabled` on a
/// "Start another automation" step means the automation to start is off.
pub fn explain(code: &str, action: Option<ActionKind>, lang: Lang) -> Option<String> {
    let pick = |en: &str, it: &str| match lang {
        Lang::En => en.to_string(),
        Lang::It => it.to_string(),
    };
    if code == "automation_disabled" && action == Some(ActionKind::StartAutomation) {
        return Some(pick("The automation to start is turned off.", "L'automazione da avviare è spenta."));
    }
    if let Some((_, en, it)) = EXPLANATIONS.iter().find(|(known, _, _)| *known == code) {
        return Some(pick(en, it));
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(status) = code.strip_prefix("http_").filter(|s| digits(s)) {
        return Some(match lang {
            Lang::En => format!("WhatsApp answered HTTP {status} without an error code."),
            Lang::It => format!("WhatsApp ha risposto HTTP {status} senza un codice di errore."),
        });
    }
    if digits(code) && code.len() == 6 && code.starts_with("132") {
        return Some(pick(
            "WhatsApp refused the template (a 132xxx error). Check the template and its parameters.",
            "WhatsApp ha rifiutato il template (un errore 132xxx). Controlla il template e i suoi parametri.",
        ));
    }
    if digits(code) {
        return Some(pick(
            "An error WhatsApp (Meta) reported with this code.",
            "Un errore segnalato da WhatsApp (Meta) con questo codice.",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use avvio_common::engine::codes;

    /// The codes `avvio_common::engine::codes` defines, by name (a renamed one does not compile).
    const ENGINE_CODES: &[&str] = &[
        codes::MISSING_VARIABLE,
        codes::OUTSIDE_WINDOW,
        codes::TEMPLATE_NOT_APPROVED,
        codes::TEMPLATE_PARAMS_MISMATCH,
        codes::AUTOMATION_DISABLED,
        codes::CONTACT_BLOCKED,
        codes::LOOP_DETECTED,
        codes::TEXT_TOO_LONG,
        codes::SEND_UNCONFIRMED,
        codes::DELIVERY_FAILED,
        codes::WEBHOOK_FAILED,
        codes::MARKETING_OPT_OUT,
        codes::MARKETING_LIMIT,
        codes::AUTOMATION_NOT_FOUND,
        avvio_common::stages::executor::WHATSAPP_NOT_CONFIGURED,
    ];

    /// The string values of `pub const NAME: &str = "value";` lines in `source`.
    fn string_consts(source: &str) -> Vec<String> {
        source
            .lines()
            .filter_map(|line| line.trim().strip_prefix("pub const ")?.split_once(": &str = \"").map(|(_, v)| v))
            .filter_map(|value| value.strip_suffix("\";"))
            .map(str::to_string)
            .collect()
    }

    fn table_has(code: &str) -> bool {
        EXPLANATIONS.iter().any(|(known, _, _)| *known == code)
    }

    #[test]
    fn every_code_the_engine_defines_has_its_own_words_in_both_languages() {
        for code in ENGINE_CODES {
            assert!(table_has(code), "`{code}` has no explanation");
        }
        // A code added to `engine::codes` later, and not named above, is caught here.
        let source = include_str!("../../../common/src/engine/mod.rs");
        let module = source.split("pub mod codes {").nth(1).and_then(|rest| rest.split("\n}").next()).unwrap();
        let defined = string_consts(module);
        assert!(defined.len() >= 13, "the codes module was read: {defined:?}");
        for code in defined {
            assert!(table_has(&code), "`{code}` (engine::codes) has no explanation");
        }
    }

    #[test]
    fn every_code_the_docs_list_has_an_explanation() {
        let docs = include_str!("../../../docs/automations.md");
        let section = docs.split("## Error codes a step can carry").nth(1).unwrap();
        let section = section.split("\n## ").next().unwrap();
        let listed: Vec<&str> = section.split('`').skip(1).step_by(2).collect();
        assert!(listed.len() >= 14, "the section was read: {listed:?}");
        for code in listed {
            assert!(table_has(code), "`{code}` (docs/automations.md) has no explanation");
        }
    }

    #[test]
    fn every_code_the_whatsapp_sender_fails_with_has_an_explanation() {
        let source = include_str!("../../../adapters/http/src/graph.rs");
        let literals: Vec<&str> = source.split("code: \"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        assert!(literals.len() >= 5, "the sender was read: {literals:?}");
        for code in literals {
            assert!(table_has(code), "`{code}` (avvio-http) has no explanation");
        }
        // What it answers when Meta gives no code, and Meta's codes it classifies.
        for code in ["http_400", "http_503", "131047", "131026", "132000", "132999", "130429", "131056", "80007"] {
            assert!(explain(code, None, Lang::En).is_some(), "{code}");
        }
    }

    #[test]
    fn the_explanations_are_written_in_both_languages_and_differ() {
        for (code, en, it) in EXPLANATIONS {
            assert!(!en.is_empty() && !it.is_empty() && en != it, "{code}");
            assert!(!en.contains("  ") && !it.contains("  "), "{code}: a doubled space");
        }
        let codes: std::collections::BTreeSet<_> = EXPLANATIONS.iter().map(|(c, _, _)| c).collect();
        assert_eq!(codes.len(), EXPLANATIONS.len(), "each code once");
    }

    #[test]
    fn an_unknown_code_has_no_explanation_and_meta_codes_say_whose_they_are() {
        assert_eq!(explain("nobody_knows_this", None, Lang::En), None);
        assert_eq!(explain("http_x", None, Lang::En), None);
        assert_eq!(explain("131999", None, Lang::En).unwrap(), "An error WhatsApp (Meta) reported with this code.");
        assert!(explain("132015", None, Lang::It).unwrap().contains("template"));
        assert_eq!(explain("http_404", None, Lang::En).unwrap(), "WhatsApp answered HTTP 404 without an error code.");
    }

    #[test]
    fn a_disabled_automation_to_start_is_explained_as_such() {
        let start = explain("automation_disabled", Some(ActionKind::StartAutomation), Lang::En).unwrap();
        assert_eq!(start, "The automation to start is turned off.");
        let cancelled = explain("automation_disabled", Some(ActionKind::SendText), Lang::It).unwrap();
        assert!(cancelled.starts_with("L'automazione è stata spenta"));
    }
}
