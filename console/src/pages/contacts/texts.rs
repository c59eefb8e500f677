//! The contacts pages' words, in both languages ([`ContactTexts::of`]). A text missing in one
//! language does not compile.

use crate::i18n::Lang;

/// Every text of the contacts pages, in one language.
pub struct ContactTexts {
    // --- the list
    pub intro: &'static str,
    pub search: &'static str,
    pub search_label: &'static str,
    pub search_hint: &'static str,
    pub tag: &'static str,
    pub list: &'static str,
    pub filter: &'static str,
    pub clear_filters: &'static str,
    pub contact: &'static str,
    pub tags: &'static str,
    pub lists: &'static str,
    pub marketing: &'static str,
    pub last_message: &'static str,
    pub no_name: &'static str,
    pub no_contacts: &'static str,
    pub no_contacts_hint: &'static str,
    pub no_match: &'static str,
    pub no_match_hint: &'static str,
    /// "Showing the first N of M contacts": before N, between N and M, after M.
    pub showing_first: &'static str,
    pub showing_of: &'static str,
    pub showing_refine: &'static str,
    pub count_one: &'static str,
    pub count_many: &'static str,

    // --- consent and state
    pub consent_unknown: &'static str,
    pub consent_opted_in: &'static str,
    pub consent_opted_out: &'static str,
    pub blocked: &'static str,

    // --- a contact's page
    pub back_to_contacts: &'static str,
    pub details: &'static str,
    pub phone: &'static str,
    pub whatsapp_user_id: &'static str,
    pub username: &'static str,
    pub operator: &'static str,
    pub none: &'static str,
    pub saved: &'static str,
    pub saved_lists: &'static str,
    pub fix_errors: &'static str,

    // --- its form
    pub edit: &'static str,
    pub name: &'static str,
    pub fields: &'static str,
    pub fields_hint: &'static str,
    pub field_name: &'static str,
    pub field_value: &'static str,
    pub tags_hint: &'static str,
    pub lists_hint: &'static str,
    pub marketing_hint: &'static str,
    pub operator_hint: &'static str,
    pub blocked_label: &'static str,
    pub blocked_hint: &'static str,
    pub save: &'static str,

    // --- its runs
    pub runs: &'static str,
    pub automation: &'static str,
    pub started: &'static str,
    pub steps: &'static str,
    pub status: &'static str,
    pub run_active: &'static str,
    pub run_completed: &'static str,
    pub run_cancelled: &'static str,
    pub no_runs: &'static str,
    pub all_runs: &'static str,
    /// "The N most recent runs": before N, after N.
    pub recent_runs_before: &'static str,
    pub recent_runs_after: &'static str,

    // --- what is wrong with a value
    pub error_field_name_missing: &'static str,
    pub error_field_name: &'static str,
    pub error_field_twice: &'static str,
    pub error_tag: &'static str,
    pub error_list: &'static str,
    pub error_operator: &'static str,
    pub error_consent_reset: &'static str,
    pub error_consent: &'static str,
}

impl ContactTexts {
    pub fn of(lang: Lang) -> &'static Self {
        match lang {
            Lang::En => &EN,
            Lang::It => &IT,
        }
    }
}

pub const EN: ContactTexts = ContactTexts {
    intro: "The people who write to you on WhatsApp, or whom your automations or your API added.",
    search: "Search",
    search_label: "Phone or name",
    search_hint: "Part of a number (e.g. 333 123) or of a name.",
    tag: "Tag",
    list: "List",
    filter: "Filter",
    clear_filters: "Clear",
    contact: "Contact",
    tags: "Tags",
    lists: "Lists",
    marketing: "Marketing messages",
    last_message: "Last message",
    no_name: "No name",
    no_contacts: "No contacts yet",
    no_contacts_hint: "A contact appears here when a customer writes to your WhatsApp number, when your online \
                       shop or app calls an automation's link, or when your API adds one.",
    no_match: "No contact matches",
    no_match_hint: "Try another search, or clear the filters.",
    showing_first: "Showing the first",
    showing_of: "of",
    showing_refine: "contacts. Search or filter to find the others.",
    count_one: "contact",
    count_many: "contacts",

    consent_unknown: "Not asked",
    consent_opted_in: "Agreed",
    consent_opted_out: "Stopped",
    blocked: "Blocked",

    back_to_contacts: "Back to contacts",
    details: "Details",
    phone: "Phone",
    whatsapp_user_id: "WhatsApp user ID",
    username: "WhatsApp username",
    operator: "Operator",
    none: "—",
    saved: "Saved.",
    saved_lists: "Saved. List changes take effect in a few seconds, and a new member starts the list's automations.",
    fix_errors: "Nothing was saved. Correct the values marked below and save again.",

    edit: "Edit",
    name: "Name",
    fields: "Fields",
    fields_hint: "The contact's dynamic fields, used as {{fields.name}} in messages. Empty a value to remove its \
                  field; save to get more empty rows.",
    field_name: "Field name",
    field_value: "Value",
    tags_hint: "One tag per line.",
    lists_hint: "One list per line. Adding the contact to a list starts the list's automations.",
    marketing_hint: "Whether the contact accepts marketing templates. Changing it starts the automations that \
                     start on this change. Once given, an answer cannot be set back to “not asked”.",
    operator_hint: "The email of the person following this contact. Leave empty for none.",
    blocked_label: "Block this contact",
    blocked_hint: "Nothing is sent to a blocked contact: it leaves every list, and the pending steps of its runs \
                   are cancelled.",
    save: "Save",

    runs: "Runs",
    automation: "Automation",
    started: "Started",
    steps: "Steps",
    status: "Status",
    run_active: "Active",
    run_completed: "Completed",
    run_cancelled: "Cancelled",
    no_runs: "No automation has run for this contact yet.",
    all_runs: "All runs of this contact",
    recent_runs_before: "The",
    recent_runs_after: "most recent runs.",

    error_field_name_missing: "Give this field a name.",
    error_field_name: "A field name has at most 64 letters, digits, - or _, without spaces.",
    error_field_twice: "This field name is already used above.",
    error_tag: "A tag has at most 100 characters, one per line. Check",
    error_list: "A list name has at most 100 characters, one per line. Check",
    error_operator: "Write an email address, e.g. anna@example.com.",
    error_consent_reset: "An answer cannot be set back to “not asked”: choose agreed or stopped.",
    error_consent: "Choose one of the answers.",
};

pub const IT: ContactTexts = ContactTexts {
    intro: "Le persone che ti scrivono su WhatsApp, o che le tue automazioni o la tua API hanno aggiunto.",
    search: "Cerca",
    search_label: "Telefono o nome",
    search_hint: "Parte di un numero (es. 333 123) o di un nome.",
    tag: "Tag",
    list: "Lista",
    filter: "Filtra",
    clear_filters: "Azzera",
    contact: "Contatto",
    tags: "Tag",
    lists: "Liste",
    marketing: "Messaggi promozionali",
    last_message: "Ultimo messaggio",
    no_name: "Senza nome",
    no_contacts: "Ancora nessun contatto",
    no_contacts_hint: "Un contatto compare qui quando un cliente scrive al tuo numero WhatsApp, quando il tuo \
                       negozio online o la tua app chiama il link di un'automazione, o quando lo aggiunge la tua API.",
    no_match: "Nessun contatto corrisponde",
    no_match_hint: "Prova un'altra ricerca, o azzera i filtri.",
    showing_first: "Sono mostrati i primi",
    showing_of: "di",
    showing_refine: "contatti. Cerca o filtra per trovare gli altri.",
    count_one: "contatto",
    count_many: "contatti",

    consent_unknown: "Non chiesto",
    consent_opted_in: "Accettati",
    consent_opted_out: "Rifiutati",
    blocked: "Bloccato",

    back_to_contacts: "Torna ai contatti",
    details: "Dettagli",
    phone: "Telefono",
    whatsapp_user_id: "ID utente WhatsApp",
    username: "Nome utente WhatsApp",
    operator: "Operatore",
    none: "—",
    saved: "Salvato.",
    saved_lists: "Salvato. Le modifiche alle liste hanno effetto in pochi secondi, e un nuovo membro avvia le \
                  automazioni della lista.",
    fix_errors: "Non è stato salvato nulla. Correggi i valori segnalati qui sotto e salva di nuovo.",

    edit: "Modifica",
    name: "Nome",
    fields: "Campi",
    fields_hint: "I campi dinamici del contatto, usati come {{fields.nome}} nei messaggi. Svuota un valore per \
                  togliere il campo; salva per avere altre righe vuote.",
    field_name: "Nome del campo",
    field_value: "Valore",
    tags_hint: "Un tag per riga.",
    lists_hint: "Una lista per riga. Aggiungere il contatto a una lista avvia le automazioni della lista.",
    marketing_hint: "Se il contatto accetta i modelli promozionali. Cambiarlo avvia le automazioni che partono da \
                     questo cambio. Una volta data, la risposta non può tornare a «non chiesto».",
    operator_hint: "L'email della persona che segue questo contatto. Lascia vuoto per nessuno.",
    blocked_label: "Blocca questo contatto",
    blocked_hint: "A un contatto bloccato non viene inviato nulla: esce da tutte le liste, e gli step in attesa \
                   delle sue esecuzioni vengono annullati.",
    save: "Salva",

    runs: "Esecuzioni",
    automation: "Automazione",
    started: "Avviata",
    steps: "Step",
    status: "Stato",
    run_active: "In corso",
    run_completed: "Completata",
    run_cancelled: "Annullata",
    no_runs: "Nessuna automazione è ancora stata eseguita per questo contatto.",
    all_runs: "Tutte le esecuzioni del contatto",
    recent_runs_before: "Le",
    recent_runs_after: "esecuzioni più recenti.",

    error_field_name_missing: "Dai un nome a questo campo.",
    error_field_name: "Il nome di un campo ha al massimo 64 lettere, cifre, - o _, senza spazi.",
    error_field_twice: "Questo nome di campo è già usato più sopra.",
    error_tag: "Un tag ha al massimo 100 caratteri, uno per riga. Controlla",
    error_list: "Il nome di una lista ha al massimo 100 caratteri, uno per riga. Controlla",
    error_operator: "Scrivi un indirizzo email, es. anna@example.com.",
    error_consent_reset: "Una risposta non può tornare a «non chiesto»: scegli accettati o rifiutati.",
    error_consent: "Scegli una delle risposte.",
};
