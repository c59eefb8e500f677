//! The console's two languages. [`Lang`] is chosen per request (the `lang` cookie, else
//! `Accept-Language`); every text a page shows is a field of [`Texts`], with one constant per
//! language ([`EN`], [`IT`]), so a template writes `{{ t.automations }}` and a text missing in
//! one language does not compile. Sentences built from a document (a trigger in words) are in
//! `describe`.

/// A language the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    It,
}

/// The cookie that remembers the language chosen with the switch in the header.
pub const LANG_COOKIE: &str = "lang";

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::It];

    /// The BCP 47 code, as `<html lang>` and the `lang` cookie write it.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::It => "it",
        }
    }

    /// The language's name in itself (what the switch shows).
    pub fn name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::It => "Italiano",
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Self::En => &EN,
            Self::It => &IT,
        }
    }

    /// `en`, `it` (any case); `None` for anything else.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code().eq_ignore_ascii_case(code.trim()))
    }

    /// The language of a request: the `lang` cookie when it names one, else the best of
    /// `Accept-Language`, else English.
    pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Self {
        cookie
            .and_then(Self::parse)
            .or_else(|| accept_language.and_then(Self::from_accept_language))
            .unwrap_or_default()
    }

    /// The language `Accept-Language` prefers among ours: the highest `q` wins (ties: the one
    /// listed first); `it-IT` counts as `it`, `en-GB` as `en`; `q=0` refuses. `None` when it
    /// names neither.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(Self, f32)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or("").trim();
            let primary = range.split('-').next().unwrap_or("");
            let Some(lang) = Self::parse(primary) else { continue };
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
                best = Some((lang, q));
            }
        }
        best.map(|(lang, _)| lang)
    }
}

/// Every text the console shows, in one language.
#[derive(Debug)]
pub struct Texts {
    // --- layout
    pub skip_to_content: &'static str,
    pub main_navigation: &'static str,
    pub language: &'static str,
    pub automations: &'static str,
    pub contacts: &'static str,
    pub runs: &'static str,
    pub templates: &'static str,
    pub workspace: &'static str,
    pub sign_out: &'static str,
    /// Shown by `app.js` when a request of a partial update gets no answer.
    pub network_error: &'static str,
    /// Shown by `app.js` when a partial update fails without a reason on the page.
    pub request_failed: &'static str,

    // --- sign-in
    pub sign_in: &'static str,
    pub sign_in_title: &'static str,
    pub sign_in_intro: &'static str,
    pub api_key: &'static str,
    pub api_key_hint: &'static str,
    pub api_key_missing: &'static str,
    pub api_key_wrong: &'static str,

    // --- automations
    pub new_automation: &'static str,
    pub name: &'static str,
    pub trigger: &'static str,
    pub status: &'static str,
    pub version: &'static str,
    pub runs_7_days: &'static str,
    pub last_run: &'static str,
    /// The accessible name of the on/off switch, before the automation's name.
    pub active: &'static str,
    pub on: &'static str,
    pub off: &'static str,
    pub no_value: &'static str,
    pub no_automations: &'static str,
    pub no_automations_hint: &'static str,
    pub automations_search: &'static str,
    pub automations_search_hint: &'static str,
    pub search: &'static str,
    pub clear_search: &'static str,
    pub no_automation_matches: &'static str,
    pub no_automation_matches_hint: &'static str,
    /// "Showing the first" N "of" M "automations…": the list past its most rows.
    pub automations_showing_first: &'static str,
    pub automations_showing_of: &'static str,
    pub automations_showing_refine: &'static str,
    pub back_to_automations: &'static str,
    pub document: &'static str,
    pub document_hint: &'static str,

    // --- a trigger in words (see `describe::trigger`)
    pub quote_open: &'static str,
    pub quote_close: &'static str,
    pub trigger_customer_message: &'static str,
    pub trigger_integration: &'static str,
    pub trigger_list: &'static str,
    pub trigger_date: &'static str,
    pub at_time: &'static str,
    pub day_before: &'static str,
    pub days_before: &'static str,
    pub day_after: &'static str,
    pub days_after: &'static str,
    pub every_year: &'static str,
    pub trigger_outside_hours: &'static str,
    pub trigger_holiday: &'static str,
    pub trigger_opted_in: &'static str,
    pub trigger_opted_out: &'static str,

    // --- error pages (by status; see `error.rs`)
    pub error_back: &'static str,
    pub error_limit: &'static str,
    pub error_malformed_title: &'static str,
    pub error_malformed: &'static str,
    pub error_forbidden_title: &'static str,
    pub error_forbidden: &'static str,
    pub error_not_found_title: &'static str,
    pub error_not_found: &'static str,
    pub error_method_title: &'static str,
    pub error_method: &'static str,
    pub error_refused_title: &'static str,
    pub error_refused: &'static str,
    pub error_too_large_title: &'static str,
    pub error_too_large: &'static str,
    pub error_unavailable_title: &'static str,
    pub error_unavailable: &'static str,
}

pub const EN: Texts = Texts {
    skip_to_content: "Skip to content",
    main_navigation: "Main",
    language: "Language",
    automations: "Automations",
    contacts: "Contacts",
    runs: "Runs",
    templates: "Templates",
    workspace: "Workspace",
    sign_out: "Sign out",
    network_error: "Avvio could not be reached. Check your connection and try again.",
    request_failed: "That did not work. Reload the page and try again.",

    sign_in: "Sign in",
    sign_in_title: "Sign in to Avvio",
    sign_in_intro: "Build and watch your WhatsApp automations.",
    api_key: "API key",
    api_key_hint: "The key you use with Avvio's API. It stays on the server: this page never keeps it.",
    api_key_missing: "Enter your API key.",
    api_key_wrong: "This API key is not valid. Check it and try again.",

    new_automation: "New automation",
    name: "Name",
    trigger: "Starts when",
    status: "Status",
    version: "Version",
    runs_7_days: "Runs (7 days)",
    last_run: "Last run",
    active: "Active",
    on: "On",
    off: "Off",
    no_value: "—",
    no_automations: "No automations yet",
    no_automations_hint: "An automation sends the right WhatsApp message at the right moment: when a customer writes, \
                          when an order arrives, on a birthday. Create your first one.",
    automations_search: "Name or start",
    automations_search_hint: "Part of a name, of an id or of how it starts (e.g. a phrase).",
    search: "Search",
    clear_search: "Clear",
    no_automation_matches: "No automation matches",
    no_automation_matches_hint: "Try another search, or clear it.",
    automations_showing_first: "Showing the first",
    automations_showing_of: "of",
    automations_showing_refine: "automations. Search to find the others.",
    back_to_automations: "Back to automations",
    document: "Document",
    document_hint: "The automation as it is stored, in JSON.",

    quote_open: "“",
    quote_close: "”",
    trigger_customer_message: "A customer writes",
    trigger_integration: "Your online shop or app calls its link",
    trigger_list: "A contact joins the list",
    trigger_date: "Date in the field",
    at_time: "at",
    day_before: "day before",
    days_before: "days before",
    day_after: "day after",
    days_after: "days after",
    every_year: "every year",
    trigger_outside_hours: "A customer writes outside working hours",
    trigger_holiday: "A customer writes on a holiday",
    trigger_opted_in: "A contact agrees to marketing messages",
    trigger_opted_out: "A contact stops marketing messages",

    error_back: "Back to the console",
    error_limit: "Limit",
    error_malformed_title: "The request could not be read",
    error_malformed: "Nothing was saved. Go back, check the form and send it again.",
    error_forbidden_title: "This form has expired",
    error_forbidden: "The form was sent without its security code, or from another site, so nothing was saved. \
                      Reload the page and try again.",
    error_not_found_title: "Page not found",
    error_not_found: "This page does not exist, or what it showed has been deleted.",
    error_method_title: "Not possible here",
    error_method: "This address does not accept this kind of request. Use the console's links and buttons.",
    error_refused_title: "The change was refused",
    error_refused: "Nothing was saved.",
    error_too_large_title: "The form is too large",
    error_too_large: "Nothing was saved: the form is larger than Avvio accepts.",
    error_unavailable_title: "Something went wrong",
    error_unavailable: "Avvio could not finish this request. Try again in a moment.",
};

pub const IT: Texts = Texts {
    skip_to_content: "Vai al contenuto",
    main_navigation: "Principale",
    language: "Lingua",
    automations: "Automazioni",
    contacts: "Contatti",
    runs: "Esecuzioni",
    templates: "Modelli",
    workspace: "Impostazioni",
    sign_out: "Esci",
    network_error: "Impossibile raggiungere Avvio. Controlla la connessione e riprova.",
    request_failed: "Non è andata a buon fine. Ricarica la pagina e riprova.",

    sign_in: "Accedi",
    sign_in_title: "Accedi ad Avvio",
    sign_in_intro: "Crea e segui le tue automazioni WhatsApp.",
    api_key: "Chiave API",
    api_key_hint: "La chiave che usi con l'API di Avvio. Resta sul server: questa pagina non la conserva.",
    api_key_missing: "Inserisci la tua chiave API.",
    api_key_wrong: "Questa chiave API non è valida. Controllala e riprova.",

    new_automation: "Nuova automazione",
    name: "Nome",
    trigger: "Step di avvio",
    status: "Stato",
    version: "Versione",
    runs_7_days: "Esecuzioni (7 giorni)",
    last_run: "Ultima esecuzione",
    active: "Attiva",
    on: "Attiva",
    off: "Spenta",
    no_value: "—",
    no_automations: "Ancora nessuna automazione",
    no_automations_hint: "Un'automazione invia il messaggio WhatsApp giusto al momento giusto: quando un cliente \
                          scrive, quando arriva un ordine, per un compleanno. Crea la tua prima automazione.",
    automations_search: "Nome o avvio",
    automations_search_hint: "Parte di un nome, di un id o di come si avvia (es. una frase).",
    search: "Cerca",
    clear_search: "Cancella",
    no_automation_matches: "Nessuna automazione corrisponde",
    no_automation_matches_hint: "Prova un'altra ricerca, o cancellala.",
    automations_showing_first: "Sono mostrate le prime",
    automations_showing_of: "di",
    automations_showing_refine: "automazioni. Cerca per trovare le altre.",
    back_to_automations: "Torna alle automazioni",
    document: "Documento",
    document_hint: "L'automazione così come è salvata, in JSON.",

    quote_open: "«",
    quote_close: "»",
    trigger_customer_message: "Un cliente scrive",
    trigger_integration: "Il tuo negozio online o la tua app chiama il suo link",
    trigger_list: "Un contatto entra nella lista",
    trigger_date: "Data nel campo",
    at_time: "alle",
    day_before: "giorno prima",
    days_before: "giorni prima",
    day_after: "giorno dopo",
    days_after: "giorni dopo",
    every_year: "ogni anno",
    trigger_outside_hours: "Un cliente scrive fuori dall'orario di lavoro",
    trigger_holiday: "Un cliente scrive in un giorno festivo",
    trigger_opted_in: "Un contatto accetta i messaggi promozionali",
    trigger_opted_out: "Un contatto rifiuta i messaggi promozionali",

    error_back: "Torna alla console",
    error_limit: "Limite",
    error_malformed_title: "Impossibile leggere la richiesta",
    error_malformed: "Non è stato salvato nulla. Torna indietro, controlla il modulo e invialo di nuovo.",
    error_forbidden_title: "Questo modulo è scaduto",
    error_forbidden: "Il modulo è arrivato senza il suo codice di sicurezza, o da un altro sito: non è stato salvato \
                      nulla. Ricarica la pagina e riprova.",
    error_not_found_title: "Pagina non trovata",
    error_not_found: "Questa pagina non esiste, o ciò che mostrava è stato eliminato.",
    error_method_title: "Operazione non possibile qui",
    error_method: "Questo indirizzo non accetta questo tipo di richiesta. Usa i link e i pulsanti della console.",
    error_refused_title: "Modifica rifiutata",
    error_refused: "Non è stato salvato nulla.",
    error_too_large_title: "Il modulo è troppo grande",
    error_too_large: "Non è stato salvato nulla: il modulo supera la dimensione che Avvio accetta.",
    error_unavailable_title: "Qualcosa è andato storto",
    error_unavailable: "Avvio non è riuscito a completare la richiesta. Riprova tra un momento.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_wins_over_accept_language() {
        assert_eq!(Lang::choose(Some("it"), Some("en-US,en")), Lang::It);
        assert_eq!(Lang::choose(Some("en"), Some("it")), Lang::En);
    }

    #[test]
    fn an_unknown_cookie_falls_back_to_accept_language() {
        assert_eq!(Lang::choose(Some("fr"), Some("it-IT")), Lang::It);
    }

    #[test]
    fn accept_language_honours_q_values() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,it;q=0.8"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("en;q=0.5, it;q=0.7"), Some(Lang::It));
        assert_eq!(Lang::from_accept_language("it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7"), Some(Lang::It));
    }

    #[test]
    fn italian_anywhere_counts_when_english_is_absent() {
        assert_eq!(Lang::from_accept_language("fr-FR, de;q=0.9, it;q=0.2"), Some(Lang::It));
    }

    #[test]
    fn a_refused_or_unknown_language_is_not_chosen() {
        assert_eq!(Lang::from_accept_language("it;q=0, fr"), None);
        assert_eq!(Lang::from_accept_language("*"), None);
        assert_eq!(Lang::choose(None, Some("de")), Lang::En);
        assert_eq!(Lang::choose(None, None), Lang::En);
    }
}
