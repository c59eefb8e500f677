//! The workspace page's words, in both languages ([`WorkspaceTexts::of`]).

use crate::i18n::Lang;
use avvio_common::domain::workspace::Day;

/// Every text of the workspace page, in one language.
pub struct WorkspaceTexts {
    pub intro: &'static str,
    pub saved: &'static str,
    pub fix_errors: &'static str,
    pub no_document: &'static str,
    pub save: &'static str,

    pub timezone: &'static str,
    pub timezone_hint: &'static str,

    pub working_hours: &'static str,
    pub working_hours_hint: &'static str,
    pub always_open: &'static str,
    pub always_open_hint: &'static str,
    /// The days, Monday first.
    pub days: [&'static str; 7],
    pub closed: &'static str,

    pub holidays: &'static str,
    pub holidays_hint: &'static str,

    pub consent: &'static str,
    pub consent_hint: &'static str,
    pub opt_out_phrases: &'static str,
    pub opt_out_hint: &'static str,
    pub opt_in_phrases: &'static str,
    pub opt_in_hint: &'static str,

    pub whatsapp: &'static str,
    pub phone_number_id: &'static str,
    pub phone_number_id_hint: &'static str,
    pub access_token: &'static str,
    pub waba_id: &'static str,
    pub waba_id_hint: &'static str,
    pub max_sends_per_second: &'static str,
    pub max_sends_per_second_hint: &'static str,
    pub retry_for: &'static str,
    pub retry_for_hint: &'static str,
    pub webhook_secret: &'static str,
    pub webhook_secret_hint: &'static str,
    pub secret_set: &'static str,
    pub secret_not_set: &'static str,
    pub secret_hint: &'static str,

    pub error_timezone: &'static str,
    pub error_hours: &'static str,
    pub error_holidays: &'static str,
    pub error_phrases: &'static str,
    pub error_token_without_number: &'static str,
    pub error_waba_without_number: &'static str,
    pub error_max_sends: &'static str,
    pub error_retry_for: &'static str,
    pub runs_retention: &'static str,
    pub runs_retention_hint: &'static str,
    pub error_runs_retention: &'static str,
}

impl WorkspaceTexts {
    pub fn of(lang: Lang) -> &'static Self {
        match lang {
            Lang::En => &EN,
            Lang::It => &IT,
        }
    }

    /// A day's name.
    pub fn day(&self, day: Day) -> &'static str {
        self.days[Day::ALL.iter().position(|d| *d == day).unwrap_or(0)]
    }
}

pub const EN: WorkspaceTexts = WorkspaceTexts {
    intro: "When you are open, which days are holidays, and how customers stop or start marketing messages. \
            Automations use these settings: “outside working hours” and “holiday” start steps, “wait until \
            working hours” and dates.",
    saved: "Saved.",
    fix_errors: "Nothing was saved. Correct the values marked below and save again.",
    no_document: "This workspace has no settings yet: saving this form creates them.",
    save: "Save",

    timezone: "Timezone",
    timezone_hint: "The IANA name of your timezone, e.g. Europe/Rome. Hours, holidays and dates are read in it.",

    working_hours: "Working hours",
    working_hours_hint: "For each day, the hours you are open, e.g. 09:00-13:00, 14:00-18:00. Leave a day empty \
                         when you are closed; 24:00 is the end of the day.",
    always_open: "Always open",
    always_open_hint: "With this ticked, the hours below are not used and no message counts as outside working hours.",
    days: ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    closed: "Closed",

    holidays: "Holidays",
    holidays_hint: "One per line: a date (2026-12-08), a day every year (12-25), easter or easter_monday.",

    consent: "Marketing consent",
    consent_hint: "A customer who writes one of these phrases (case and spaces do not matter) stops or starts \
                   marketing messages.",
    opt_out_phrases: "Phrases that stop marketing messages",
    opt_out_hint: "One per line, e.g. STOP.",
    opt_in_phrases: "Phrases that start marketing messages",
    opt_in_hint: "One per line, e.g. START.",

    whatsapp: "WhatsApp and integrations",
    phone_number_id: "Phone number ID",
    phone_number_id_hint: "The ID of your WhatsApp number in Meta's WhatsApp Manager. Leave empty for no number \
                           (its access token goes too).",
    access_token: "Access token",
    waba_id: "WhatsApp Business Account ID",
    waba_id_hint: "The ID of the account your number belongs to (WhatsApp Manager). With it, the templates are \
                   synced from Meta once a day, and from the Templates page.",
    max_sends_per_second: "Messages per second",
    max_sends_per_second_hint: "The most messages the number sends each second: 80 unless Meta raised your \
                                number's limit (up to 1000).",
    retry_for: "Retry for",
    retry_for_hint: "How long a message Meta throttles or fails for a moment is tried again, e.g. 4h or 30m.",
    webhook_secret: "Webhook secret",
    webhook_secret_hint: "Signs what your automations send to other services (the X-Avvio-Signature header).",
    secret_set: "Set",
    secret_not_set: "Not set",
    secret_hint: "Never shown. Leave empty to keep the current value; type a new one to replace it.",

    error_timezone: "Write a timezone's IANA name, e.g. Europe/Rome. Check",
    error_hours: "Write the hours as HH:MM-HH:MM, separated by commas, e.g. 09:00-13:00, 14:00-18:00. Check",
    error_holidays: "Write a date (2026-12-08), a day every year (12-25), easter or easter_monday. Check",
    error_phrases: "A phrase has at most 4096 characters. Check",
    error_token_without_number: "Enter the phone number ID this access token belongs to.",
    error_waba_without_number: "Enter the phone number ID of a number of this account.",
    error_max_sends: "Write a whole number from 1 to 1000. Check",
    error_retry_for: "Write a duration, e.g. 4h, 30m or 1h30m. Check",
    runs_retention: "Keep run history for",
    runs_retention_hint: "How long a finished run stays in Runs and on its contact, from 1d to 366d (90d unless \
                          you change it). Applies to the runs that start from now on.",
    error_runs_retention: "Write a duration from 1d to 366d, e.g. 90d. Check",
};

pub const IT: WorkspaceTexts = WorkspaceTexts {
    intro: "Quando sei aperto, quali giorni sono festivi, e come i clienti rifiutano o accettano i messaggi \
            promozionali. Le automazioni usano queste impostazioni: gli step di avvio «fuori orario» e «giorno \
            festivo», l'attesa dell'orario di lavoro e le date.",
    saved: "Salvato.",
    fix_errors: "Non è stato salvato nulla. Correggi i valori segnalati qui sotto e salva di nuovo.",
    no_document: "Non ci sono ancora impostazioni: salvare questo modulo le crea.",
    save: "Salva",

    timezone: "Fuso orario",
    timezone_hint: "Il nome IANA del tuo fuso orario, es. Europe/Rome. Orari, festività e date sono letti in \
                    questo fuso.",

    working_hours: "Orario di lavoro",
    working_hours_hint: "Per ogni giorno, gli orari in cui sei aperto, es. 09:00-13:00, 14:00-18:00. Lascia vuoto \
                         un giorno di chiusura; 24:00 è la fine della giornata.",
    always_open: "Sempre aperto",
    always_open_hint: "Se è selezionato, gli orari qui sotto non vengono usati e nessun messaggio è fuori orario.",
    days: ["Lunedì", "Martedì", "Mercoledì", "Giovedì", "Venerdì", "Sabato", "Domenica"],
    closed: "Chiuso",

    holidays: "Giorni festivi",
    holidays_hint: "Uno per riga: una data (2026-12-08), un giorno di ogni anno (12-25), easter (Pasqua) o \
                    easter_monday (Pasquetta).",

    consent: "Consenso ai messaggi promozionali",
    consent_hint: "Un cliente che scrive una di queste frasi (maiuscole e spazi non contano) rifiuta o accetta i \
                   messaggi promozionali.",
    opt_out_phrases: "Frasi per rifiutare i messaggi promozionali",
    opt_out_hint: "Una per riga, es. STOP.",
    opt_in_phrases: "Frasi per accettare i messaggi promozionali",
    opt_in_hint: "Una per riga, es. START.",

    whatsapp: "WhatsApp e integrazioni",
    phone_number_id: "ID del numero di telefono",
    phone_number_id_hint: "L'ID del tuo numero WhatsApp in WhatsApp Manager di Meta. Lascia vuoto per nessun numero \
                           (anche il suo token di accesso viene tolto).",
    access_token: "Token di accesso",
    waba_id: "ID dell'account WhatsApp Business",
    waba_id_hint: "L'ID dell'account a cui appartiene il tuo numero (WhatsApp Manager). Con questo, i modelli \
                   vengono sincronizzati da Meta una volta al giorno, e dalla pagina Modelli.",
    max_sends_per_second: "Messaggi al secondo",
    max_sends_per_second_hint: "Il massimo di messaggi che il numero invia ogni secondo: 80, salvo che Meta abbia \
                                alzato il limite del tuo numero (fino a 1000).",
    retry_for: "Riprova per",
    retry_for_hint: "Per quanto tempo si riprova un messaggio che Meta rallenta o rifiuta per un momento, \
                     es. 4h o 30m.",
    webhook_secret: "Segreto dei webhook",
    webhook_secret_hint: "Firma ciò che le tue automazioni inviano ad altri servizi (l'intestazione X-Avvio-Signature).",
    secret_set: "Impostato",
    secret_not_set: "Non impostato",
    secret_hint: "Non viene mai mostrato. Lascia vuoto per mantenere il valore attuale; scrivine uno nuovo per \
                  sostituirlo.",

    error_timezone: "Scrivi il nome IANA di un fuso orario, es. Europe/Rome. Controlla",
    error_hours: "Scrivi gli orari come HH:MM-HH:MM, separati da virgole, es. 09:00-13:00, 14:00-18:00. Controlla",
    error_holidays: "Scrivi una data (2026-12-08), un giorno di ogni anno (12-25), easter o easter_monday. Controlla",
    error_phrases: "Una frase ha al massimo 4096 caratteri. Controlla",
    error_token_without_number: "Inserisci l'ID del numero di telefono a cui appartiene questo token di accesso.",
    error_waba_without_number: "Inserisci l'ID del numero di telefono di un numero di questo account.",
    error_max_sends: "Scrivi un numero intero da 1 a 1000. Controlla",
    error_retry_for: "Scrivi una durata, es. 4h, 30m o 1h30m. Controlla",
    runs_retention: "Conserva lo storico delle esecuzioni per",
    runs_retention_hint: "Per quanto tempo un'esecuzione finita resta in Esecuzioni e sul suo contatto, da 1d a \
                          366d (90d se non lo cambi). Vale per le esecuzioni che partono da ora.",
    error_runs_retention: "Scrivi una durata da 1d a 366d, es. 90d. Controlla",
};
