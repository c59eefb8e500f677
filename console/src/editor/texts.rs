//! The editor's words, in both languages: the names of triggers and actions, the labels of
//! their inputs and the editor's buttons. A key the editor shows and no language names is a
//! compile error (every label is a `match` arm or a field).

use crate::i18n::Lang;
use avvio_common::domain::workspace::{HeaderFormat, TemplateHeader, placeholders};

/// The editor's fixed texts.
pub struct EditorTexts {
    pub lang: Lang,
    pub name: &'static str,
    pub enabled: &'static str,
    pub start_step: &'static str,
    pub start_step_hint: &'static str,
    pub trigger_type: &'static str,
    pub steps: &'static str,
    pub when: &'static str,
    pub when_hint: &'static str,
    pub your_action: &'static str,
    pub add_step: &'static str,
    pub add_reply_branch: &'static str,
    pub add_condition_branch: &'static str,
    pub add_otherwise: &'static str,
    pub add_on_timeout: &'static str,
    pub add_button: &'static str,
    pub remove: &'static str,
    pub remove_step: &'static str,
    pub move_up: &'static str,
    pub move_down: &'static str,
    pub branch_reply: &'static str,
    pub branch_if: &'static str,
    pub otherwise: &'static str,
    pub on_timeout: &'static str,
    pub no_steps_in_branch: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub fix_errors: &'static str,
    pub flow_tab: &'static str,
    pub json_tab: &'static str,
    pub apply_json: &'static str,
    pub save_json: &'static str,
    pub json_hint: &'static str,
    pub update: &'static str,
    pub button: &'static str,
    pub buttons: &'static str,
    pub params_of: &'static str,
    pub header: &'static str,
    pub button_params: &'static str,
    pub param_needed: &'static str,
    pub no_templates: &'static str,
    pub counters_done: &'static str,
    pub counters_failed: &'static str,
    pub counters_skipped: &'static str,
    pub counters_pending: &'static str,
    pub counters_read: &'static str,
    pub counters_taken: &'static str,
    pub choose: &'static str,
}

pub const EN: EditorTexts = EditorTexts {
    lang: Lang::En,
    name: "Name",
    enabled: "Active",
    start_step: "Start step",
    start_step_hint: "What starts the automation for a contact.",
    trigger_type: "It starts when",
    steps: "Steps",
    when: "When?",
    when_hint: "After the previous step: 0s, 30m, 2h, 1d.",
    your_action: "Your automatic action",
    add_step: "Add a step",
    add_reply_branch: "Add a reply",
    add_condition_branch: "Add a condition",
    add_otherwise: "Add “otherwise”",
    add_on_timeout: "Add “no reply”",
    add_button: "Add a button",
    remove: "Remove",
    remove_step: "Remove this step",
    move_up: "Move up",
    move_down: "Move down",
    branch_reply: "If the reply is",
    branch_if: "If",
    otherwise: "Otherwise",
    on_timeout: "If there is no reply in time",
    no_steps_in_branch: "No steps: the run ends here.",
    save: "Save",
    saved: "Saved.",
    fix_errors: "The automation was not saved: fix the fields marked below.",
    flow_tab: "Flow",
    json_tab: "JSON",
    apply_json: "Show in the editor",
    save_json: "Save this JSON",
    json_hint: "The same automation as a JSON document (SPEC §2). Edit it and show it in the editor, or save it.",
    update: "Update",
    button: "Button",
    buttons: "Buttons (at most 3)",
    params_of: "params",
    header: "Header",
    button_params: "The template's buttons",
    param_needed: "Required: the template's button needs it.",
    no_templates: "No templates yet: add them under Templates.",
    counters_done: "done",
    counters_failed: "failed",
    counters_skipped: "skipped",
    counters_pending: "waiting",
    counters_read: "read",
    counters_taken: "taken",
    choose: "Choose…",
};

pub const IT: EditorTexts = EditorTexts {
    lang: Lang::It,
    name: "Nome",
    enabled: "Attiva",
    start_step: "Step di avvio",
    start_step_hint: "Cosa avvia l'automazione per un contatto.",
    trigger_type: "Si avvia quando",
    steps: "Step",
    when: "Quando?",
    when_hint: "Dopo lo step precedente: 0s, 30m, 2h, 1d.",
    your_action: "Tua azione automatica",
    add_step: "Aggiungi uno step",
    add_reply_branch: "Aggiungi una risposta",
    add_condition_branch: "Aggiungi una condizione",
    add_otherwise: "Aggiungi “altrimenti”",
    add_on_timeout: "Aggiungi “nessuna risposta”",
    add_button: "Aggiungi un pulsante",
    remove: "Rimuovi",
    remove_step: "Rimuovi questo step",
    move_up: "Sposta su",
    move_down: "Sposta giù",
    branch_reply: "Se la risposta è",
    branch_if: "Se",
    otherwise: "Altrimenti",
    on_timeout: "Se non risponde in tempo",
    no_steps_in_branch: "Nessuno step: l'esecuzione finisce qui.",
    save: "Salva",
    saved: "Salvata.",
    fix_errors: "L'automazione non è stata salvata: correggi i campi segnati qui sotto.",
    flow_tab: "Flusso",
    json_tab: "JSON",
    apply_json: "Mostra nell'editor",
    save_json: "Salva questo JSON",
    json_hint: "La stessa automazione come documento JSON (SPEC §2). Modificala e mostrala nell'editor, o salvala.",
    update: "Aggiorna",
    button: "Pulsante",
    buttons: "Pulsanti (al massimo 3)",
    params_of: "parametri",
    header: "Intestazione",
    button_params: "I pulsanti del template",
    param_needed: "Obbligatorio: il pulsante del template ne ha bisogno.",
    no_templates: "Nessun template: aggiungili in Template.",
    counters_done: "fatti",
    counters_failed: "falliti",
    counters_skipped: "saltati",
    counters_pending: "in attesa",
    counters_read: "letti",
    counters_taken: "scelto",
    choose: "Scegli…",
};

impl EditorTexts {
    pub fn of(lang: Lang) -> &'static Self {
        match lang {
            Lang::En => &EN,
            Lang::It => &IT,
        }
    }

    /// A trigger's or an action's name (`type`), in words.
    pub fn kind(&self, kind: &str) -> &'static str {
        let it = self.lang == Lang::It;
        let (en, it_text) = match kind {
            "customer_message" => ("The customer writes a phrase", "Il cliente scrive una frase"),
            "integration" => ("An external tool calls the integration URL", "Uno strumento esterno chiama l'URL"),
            "list" => ("The contact joins a list", "Il contatto entra in una lista"),
            "date" => ("A date field comes due", "Arriva una data del contatto"),
            "outside_hours" => ("A message outside working hours", "Un messaggio fuori orario"),
            "holiday" => ("A message on a holiday", "Un messaggio in un giorno festivo"),
            "consent" => ("Marketing consent changes", "Cambia il consenso marketing"),
            "send_template" => ("Send a template", "Invia un template"),
            "send_text" => ("Send a text", "Invia un testo"),
            "send_buttons" => ("Send buttons", "Invia dei pulsanti"),
            "send_media" => ("Send an image, video, document or audio", "Invia un'immagine, video, documento o audio"),
            "send_list" => ("Send a list menu", "Invia un menu a lista"),
            "send_cta_url" => ("Send a link button", "Invia un pulsante link"),
            "add_tag" => ("Add a tag", "Aggiungi un tag"),
            "remove_tag" => ("Remove a tag", "Rimuovi un tag"),
            "add_to_list" => ("Add to a list", "Aggiungi a una lista"),
            "remove_from_list" => ("Remove from a list", "Rimuovi da una lista"),
            "set_field" => ("Set a field", "Imposta un campo"),
            "block_contact" => ("Block the contact", "Blocca il contatto"),
            "unblock_contact" => ("Unblock the contact", "Sblocca il contatto"),
            "send_webhook" => ("Call a webhook", "Chiama un webhook"),
            "assign_operator" => ("Assign an operator", "Assegna un operatore"),
            "unassign_operator" => ("Unassign the operator", "Togli l'operatore"),
            "set_consent" => ("Set marketing consent", "Imposta il consenso marketing"),
            "wait_for_reply" => ("Wait for the reply", "Aspetta la risposta"),
            "condition" => ("Branch on a condition", "Dividi per condizione"),
            "wait_until" => ("Wait until a time", "Aspetta fino a un orario"),
            "start_automation" => ("Start another automation", "Avvia un'altra automazione"),
            _ => ("Unknown", "Sconosciuto"),
        };
        if it { it_text } else { en }
    }

    /// A template send's header type in words (`""`: no header).
    pub fn header_kind(&self, kind: &str) -> &'static str {
        let (en, it) = match kind {
            "" => ("None", "Nessuna"),
            "image" => ("Image", "Immagine"),
            "video" => ("Video", "Video"),
            "document" => ("Document", "Documento"),
            "text" => ("Text", "Testo"),
            "location" => ("Location", "Posizione"),
            _ => ("Unknown", "Sconosciuta"),
        };
        if self.lang == Lang::It { it } else { en }
    }

    /// What the header select says of the chosen template's header (`None`: no template known).
    pub fn header_hint(&self, template: Option<(&str, Option<&TemplateHeader>)>) -> String {
        let it = self.lang == Lang::It;
        let Some((name, header)) = template else {
            return (if it { "Solo se il template ne ha una." } else { "Only if the template has one." }).to_string();
        };
        let kind = match header.map(|h| (h.format, h.text.as_deref())) {
            None => None,
            Some((HeaderFormat::Text, text)) if text.is_none_or(|t| placeholders(t).is_empty()) => {
                return if it {
                    format!("Il template “{name}” ha un'intestazione di testo fissa: lascia “Nessuna”.")
                } else {
                    format!("The template “{name}” has a fixed text header: leave “None”.")
                };
            }
            Some((format, _)) => Some(match format {
                HeaderFormat::Image => "image",
                HeaderFormat::Video => "video",
                HeaderFormat::Document => "document",
                HeaderFormat::Text => "text",
                HeaderFormat::Location => "location",
            }),
        };
        match (kind, it) {
            (None, false) => format!("The template “{name}” has no header: leave “None”."),
            (None, true) => format!("Il template “{name}” non ha intestazione: lascia “Nessuna”."),
            (Some(kind), false) => format!("The template “{name}” has a header: choose “{}”.", self.header_kind(kind)),
            (Some(kind), true) => {
                format!("Il template “{name}” ha un'intestazione: scegli “{}”.", self.header_kind(kind))
            }
        }
    }

    /// The label and hint of a button parameter's input: for the template's button titled
    /// `text` (and its `url`), or for a button the template does not have (`index`, 0-based).
    pub fn button_param(
        &self,
        kind: &str,
        button: Option<(&str, Option<&str>)>,
        index: u64,
    ) -> (String, Option<String>) {
        let it = self.lang == Lang::It;
        let Some((text, url)) = button else {
            let what = match (kind, it) {
                ("url", false) => "link ending",
                ("url", true) => "fine del link",
                ("copy_code", false) => "coupon code",
                ("copy_code", true) => "codice coupon",
                (_, false) => "payload",
                (_, true) => "payload",
            };
            let n = index + 1;
            return if it {
                (format!("Pulsante {n}: {what}"), Some("Il template non ha questo pulsante: rimuovilo.".into()))
            } else {
                (format!("Button {n}: {what}"), Some("The template has no such button: remove it.".into()))
            };
        };
        let url = url.unwrap_or_default();
        match (kind, it) {
            ("url", false) => (
                format!("Link ending for “{text}”"),
                Some(format!("The button opens {url} with this in place of {{{{1}}}}.")),
            ),
            ("url", true) => (
                format!("Fine del link per “{text}”"),
                Some(format!("Il pulsante apre {url} con questo al posto di {{{{1}}}}.")),
            ),
            ("copy_code", false) => {
                (format!("Coupon code for “{text}”"), Some("The code the contact copies with the button.".into()))
            }
            ("copy_code", true) => {
                (format!("Codice coupon per “{text}”"), Some("Il codice che il contatto copia col pulsante.".into()))
            }
            (_, false) => (
                format!("Payload for “{text}” (optional)"),
                Some("Comes back when the contact presses it: a reply matches it, or the button's text.".into()),
            ),
            (_, true) => (
                format!("Payload per “{text}” (facoltativo)"),
                Some("Torna quando il contatto lo preme: una risposta lo riconosce, o il testo del pulsante.".into()),
            ),
        }
    }

    /// The label of an input, by its key; its hint, when it has one.
    pub fn label(&self, key: &str) -> (&'static str, Option<&'static str>) {
        let it = self.lang == Lang::It;
        let pick = |en: &'static str, it_text: &'static str| if it { it_text } else { en };
        match key {
            "phrase" => (
                pick("Phrase", "Frase"),
                Some(pick("Matched whatever the case and spacing.", "Vale con maiuscole e spazi diversi.")),
            ),
            "secret" => (
                pick("Secret", "Segreto"),
                Some(pick(
                    "Empty: keep the current one (or generate one).",
                    "Vuoto: resta quello attuale (o ne viene generato uno).",
                )),
            ),
            "list" => (pick("List", "Lista"), None),
            "field" => (pick("Field", "Campo"), None),
            "offset_days" => (pick("Days before (−) or after", "Giorni prima (−) o dopo"), None),
            "time" => (pick("Time (HH:MM)", "Orario (HH:MM)"), None),
            "annual" => (pick("Every year", "Ogni anno"), None),
            "cooldown" => (pick("At most once every", "Al massimo una volta ogni"), Some(pick("e.g. 1d", "es. 1d"))),
            "marketing" => (pick("Consent", "Consenso"), None),
            "text" => (
                pick("Text", "Testo"),
                Some(pick("{{name}} and {{fields.x}} are filled in.", "{{name}} e {{fields.x}} vengono compilati.")),
            ),
            "template" => (pick("Template", "Template"), None),
            "language" => (pick("Language", "Lingua"), None),
            "params" => (
                pick("Parameters, one per line", "Parametri, uno per riga"),
                Some(pick(
                    "A template with named parameters: one name=value per line, e.g. first_name={{name}}.",
                    "Un template con parametri con nome: un nome=valore per riga, es. first_name={{name}}.",
                )),
            ),
            // Only a header or button parameters the inputs cannot show as they are (JSON).
            "header" => (
                pick("Header (JSON)", "Intestazione (JSON)"),
                Some(pick(
                    r#"The inputs cannot show this header: empty it to choose its type again. Shapes: {"type": "image", "link": "https://…"} · {"type": "text", "text": "…"} · {"type": "location", "latitude": 45.46, "longitude": 9.19}"#,
                    r#"Gli input non possono mostrare questa intestazione: svuotala per sceglierne di nuovo il tipo. Forme: {"type": "image", "link": "https://…"} · {"type": "text", "text": "…"} · {"type": "location", "latitude": 45.46, "longitude": 9.19}"#,
                )),
            ),
            "buttons" => (
                pick("Button parameters (JSON)", "Parametri dei pulsanti (JSON)"),
                Some(pick(
                    r#"The inputs cannot show these: empty it to use them again. Shapes: [{"index": 0, "type": "url", "text": "…"}, {"index": 1, "type": "quick_reply", "payload": "…"}, {"index": 2, "type": "copy_code", "code": "…"}]"#,
                    r#"Gli input non possono mostrarli: svuotalo per usarli di nuovo. Forme: [{"index": 0, "type": "url", "text": "…"}, {"index": 1, "type": "quick_reply", "payload": "…"}, {"index": 2, "type": "copy_code", "code": "…"}]"#,
                )),
            ),
            "header.type" => (pick("Type", "Tipo"), None),
            "header.link" => (
                pick("Link (https)", "Link (https)"),
                Some(pick("Where WhatsApp downloads the file from.", "Da dove WhatsApp scarica il file.")),
            ),
            "header.filename" => (
                pick("File name (optional)", "Nome del file (facoltativo)"),
                Some(pick("What the contact sees, e.g. listino.pdf.", "Quello che vede il contatto, es. listino.pdf.")),
            ),
            "header.text" => (
                pick("Header text", "Testo dell'intestazione"),
                Some(pick(
                    "Takes the place of the header's {{1}}; {{name}} and {{fields.x}} are filled in.",
                    "Prende il posto del {{1}} dell'intestazione; {{name}} e {{fields.x}} vengono compilati.",
                )),
            ),
            "header.latitude" => (pick("Latitude", "Latitudine"), Some(pick("e.g. 45.4642", "es. 45,4642"))),
            "header.longitude" => (pick("Longitude", "Longitudine"), Some(pick("e.g. 9.1900", "es. 9,1900"))),
            "header.name" => (pick("Place name (optional)", "Nome del luogo (facoltativo)"), None),
            "header.address" => (pick("Address (optional)", "Indirizzo (facoltativo)"), None),
            "media" => (pick("Kind", "Tipo"), None),
            "link" => (
                pick("Link (https)", "Link (https)"),
                Some(pick("Where WhatsApp downloads the file from.", "Da dove WhatsApp scarica il file.")),
            ),
            "caption" => (pick("Caption (optional, not for audio)", "Didascalia (facoltativa, non per l'audio)"), None),
            "filename" => (pick("File name (documents only)", "Nome del file (solo documenti)"), None),
            "button" => (
                pick("Button that opens the list", "Pulsante che apre la lista"),
                Some(pick("At most 20 characters.", "Al massimo 20 caratteri.")),
            ),
            "sections" => (
                pick("Menu rows", "Voci del menu"),
                Some(pick(
                    "One row per line: title | description (optional). A line “# Title” starts a section. \
                     A reply matches a row by its title.",
                    "Una voce per riga: titolo | descrizione (facoltativa). Una riga «# Titolo» apre una sezione. \
                     Una risposta corrisponde a una voce dal suo titolo.",
                )),
            ),
            "display_text" => (
                pick("Button text", "Testo del pulsante"),
                Some(pick("At most 20 characters.", "Al massimo 20 caratteri.")),
            ),
            "tag" => (pick("Tag", "Tag"), None),
            "value" => (
                pick("Value", "Valore"),
                Some(pick("Empty: the next reply (choose below).", "Vuoto: la prossima risposta (scegli sotto).")),
            ),
            "from" => (pick("Or take it from", "Oppure prendilo da"), None),
            "url" => (pick("URL (https)", "URL (https)"), None),
            "body" => (pick("Body (JSON, optional)", "Corpo (JSON, facoltativo)"), None),
            "operator" => (pick("Operator", "Operatore"), None),
            "timeout" => (
                pick("Wait at most", "Aspetta al massimo"),
                Some(pick("e.g. 1d; at most 30d.", "es. 1d; al massimo 30d.")),
            ),
            "save_to" => {
                (pick("Save the reply into field (optional)", "Salva la risposta nel campo (facoltativo)"), None)
            }
            "reply" => (
                pick("Replies, one per line", "Risposte, una per riga"),
                Some(pick(
                    "A button's title or id, or the exact words.",
                    "Il titolo o l'id di un pulsante, o le parole esatte.",
                )),
            ),
            "if" => (
                pick("Condition (JSON)", "Condizione (JSON)"),
                Some(r#"{"has_tag": "vip"}, {"field": "citta", "equals": "Roma"}, {"all": [...]}"#),
            ),
            "days" => (
                pick("On these days", "In questi giorni"),
                Some(pick("None checked: every day.", "Nessuno: tutti i giorni.")),
            ),
            "working_hours" => (pick("Or until the workspace is open", "Oppure finché siamo aperti"), None),
            "automation" => (pick("Automation", "Automazione"), None),
            "id" => ("Id", None),
            "title" => (pick("Title", "Titolo"), None),
            _ => ("?", None),
        }
    }
}
