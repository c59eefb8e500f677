//! The templates page's words, in both languages ([`TemplateTexts::of`]).

use crate::i18n::Lang;

/// Every text of the templates page, in one language.
pub struct TemplateTexts {
    pub intro: &'static str,
    pub how_to_add: &'static str,
    pub name: &'static str,
    pub language: &'static str,
    pub category: &'static str,
    pub status: &'static str,
    pub body: &'static str,
    pub buttons: &'static str,
    pub marketing: &'static str,
    pub utility: &'static str,
    pub authentication: &'static str,
    pub approved: &'static str,
    pub pending: &'static str,
    pub rejected: &'static str,
    pub paused: &'static str,
    pub disabled: &'static str,
    pub in_appeal: &'static str,
    pub pending_deletion: &'static str,
    pub deleted: &'static str,
    pub archived: &'static str,
    pub limit_exceeded: &'static str,
    pub sync: &'static str,
    pub sync_hint: &'static str,
    /// "{added} added, {changed} changed, {removed} removed", in words: see [`TemplateTexts::synced`].
    synced_words: [&'static str; 4],
    pub sync_failed: &'static str,
    pub no_templates: &'static str,
    pub no_templates_hint: &'static str,
}

impl TemplateTexts {
    pub fn of(lang: Lang) -> &'static Self {
        match lang {
            Lang::En => &EN,
            Lang::It => &IT,
        }
    }

    /// What a sync did, in words.
    pub fn synced(&self, added: usize, changed: usize, removed: usize) -> String {
        let [intro, a, c, r] = self.synced_words;
        format!("{intro} {added} {a}, {changed} {c}, {removed} {r}.")
    }
}

pub const EN: TemplateTexts = TemplateTexts {
    intro: "Your WhatsApp message templates. Only approved templates are sent, and marketing \
            templates are not sent to contacts who stopped marketing messages.",
    how_to_add: "To add, change or remove a template, use the API:",
    name: "Name",
    language: "Language",
    category: "Category",
    status: "Status",
    body: "Text",
    buttons: "Buttons",
    marketing: "Marketing",
    utility: "Utility",
    authentication: "Authentication",
    approved: "Approved",
    pending: "Pending",
    rejected: "Rejected",
    paused: "Paused",
    disabled: "Disabled",
    in_appeal: "In appeal",
    pending_deletion: "Being deleted",
    deleted: "Deleted",
    archived: "Archived",
    limit_exceeded: "Over the limit",
    sync: "Sync from Meta",
    sync_hint: "Makes the list equal to the templates of your WhatsApp Business Account at Meta \
                (it also happens once a day, and each status changes as Meta reports it).",
    synced_words: ["Synced from Meta:", "added", "changed", "removed"],
    sync_failed: "Meta did not give the templates; nothing changed.",
    no_templates: "No templates yet",
    no_templates_hint: "A template is a message WhatsApp approved in advance: the only kind you can send outside \
                        the 24 hours after a customer's last message.",
};

pub const IT: TemplateTexts = TemplateTexts {
    intro: "I tuoi modelli di messaggio WhatsApp. Vengono inviati solo i modelli approvati, e \
            i modelli promozionali non vengono inviati ai contatti che hanno rifiutato i messaggi promozionali.",
    how_to_add: "Per aggiungere, modificare o eliminare un modello, usa l'API:",
    name: "Nome",
    language: "Lingua",
    category: "Categoria",
    status: "Stato",
    body: "Testo",
    buttons: "Pulsanti",
    marketing: "Promozionale",
    utility: "Servizio",
    authentication: "Autenticazione",
    approved: "Approvato",
    pending: "In revisione",
    rejected: "Rifiutato",
    paused: "In pausa",
    disabled: "Disattivato",
    in_appeal: "In ricorso",
    pending_deletion: "In eliminazione",
    deleted: "Eliminato",
    archived: "Archiviato",
    limit_exceeded: "Oltre il limite",
    sync: "Sincronizza da Meta",
    sync_hint: "Rende l'elenco uguale ai modelli del tuo account WhatsApp Business su Meta \
                (avviene anche una volta al giorno, e ogni stato cambia appena Meta lo comunica).",
    synced_words: ["Sincronizzati da Meta:", "aggiunti", "modificati", "rimossi"],
    sync_failed: "Meta non ha fornito i modelli; non è cambiato nulla.",
    no_templates: "Ancora nessun modello",
    no_templates_hint: "Un modello è un messaggio approvato in anticipo da WhatsApp: l'unico tipo che puoi inviare \
                        oltre le 24 ore dall'ultimo messaggio di un cliente.",
};
