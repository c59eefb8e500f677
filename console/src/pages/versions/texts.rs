//! The version history's words, in both languages ([`VersionTexts::of`]). A text missing in one
//! language does not compile; sentences with numbers are methods.

use crate::i18n::Lang;

/// Every text of the history and version pages, in one language.
pub struct VersionTexts {
    pub lang: Lang,
    // --- the history
    pub history: &'static str,
    pub intro: &'static str,
    pub times_in: &'static str,
    pub version: &'static str,
    pub saved: &'static str,
    pub name: &'static str,
    pub state: &'static str,
    pub changes: &'static str,
    pub current: &'static str,
    /// A version stored before the time of saving was kept.
    pub unknown_time: &'static str,
    pub first: &'static str,
    pub no_changes: &'static str,

    // --- a version
    pub back_to_history: &'static str,
    pub compare_with: &'static str,
    pub compare: &'static str,
    pub nothing: &'static str,
    pub the_one_before: &'static str,
    pub no_differences: &'static str,
    pub added: &'static str,
    pub removed: &'static str,
    pub diff_hint: &'static str,
    pub restore: &'static str,
    pub is_current: &'static str,
}

impl VersionTexts {
    pub fn of(lang: Lang) -> &'static Self {
        match lang {
            Lang::En => &EN,
            Lang::It => &IT,
        }
    }

    fn pick(&self, en: &'static str, it: &'static str) -> &'static str {
        match self.lang {
            Lang::En => en,
            Lang::It => it,
        }
    }

    /// "Version 3".
    pub fn version_n(&self, n: u32) -> String {
        format!("{} {n}", self.version)
    }

    /// The editor's link to the history: "History · 3 versions".
    pub fn history_link(&self, count: u32) -> String {
        let versions = match (self.lang, count) {
            (Lang::En, 1) => "version",
            (Lang::En, _) => "versions",
            (Lang::It, 1) => "versione",
            (Lang::It, _) => "versioni",
        };
        format!("{} · {count} {versions}", self.history)
    }

    /// The editor's flash after a restore.
    pub fn restored(&self, n: u32, k: u32) -> String {
        match self.lang {
            Lang::En => format!("Version {n} restored as version {k}."),
            Lang::It => format!("Versione {n} ripristinata come versione {k}."),
        }
    }

    /// What the diff shows: "Changes from version 1 to version 2".
    pub fn changes_from(&self, against: Option<u32>, n: u32) -> String {
        match (self.lang, against) {
            (Lang::En, Some(m)) => format!("Changes from version {m} to version {n}"),
            (Lang::It, Some(m)) => format!("Modifiche dalla versione {m} alla versione {n}"),
            (Lang::En, None) => format!("The whole document of version {n}"),
            (Lang::It, None) => format!("Il documento intero della versione {n}"),
        }
    }

    /// "3 lines added, 1 removed" (or "No changes").
    pub fn counts(&self, added: usize, removed: usize) -> String {
        if added == 0 && removed == 0 {
            return self.no_changes.to_string();
        }
        match self.lang {
            Lang::En => {
                let lines = if added == 1 { "line" } else { "lines" };
                format!("{added} {lines} added, {removed} removed")
            }
            Lang::It => {
                let (lines, added_word) = if added == 1 { ("riga", "aggiunta") } else { ("righe", "aggiunte") };
                let removed_word = if removed == 1 { "tolta" } else { "tolte" };
                format!("{added} {lines} {added_word}, {removed} {removed_word}")
            }
        }
    }

    /// A fold of unchanged lines: "12 unchanged lines".
    pub fn folded(&self, lines: usize) -> String {
        match (self.lang, lines) {
            (Lang::En, 1) => "1 unchanged line".to_string(),
            (Lang::En, _) => format!("{lines} unchanged lines"),
            (Lang::It, 1) => "1 riga invariata".to_string(),
            (Lang::It, _) => format!("{lines} righe invariate"),
        }
    }

    /// Under the restore button: what it does.
    pub fn restore_hint(&self, next: u32) -> String {
        match self.lang {
            Lang::En => format!(
                "Saves this document as version {next}, switched on or off as it was. Nothing is lost: the history keeps every version."
            ),
            Lang::It => format!(
                "Salva questo documento come versione {next}, attivo o no come era. Non si perde nulla: la cronologia tiene ogni versione."
            ),
        }
    }

    /// A restore the rules refuse (the detail of the 422 or 409 page, which says nothing was saved).
    pub fn cannot_restore(&self, n: u32, path: &str, reason: &str) -> String {
        let at = if path.is_empty() { String::new() } else { format!("{path}: ") };
        match self.lang {
            Lang::En => format!("Version {n} cannot be restored as it is: {at}{reason}."),
            Lang::It => {
                format!("La versione {n} non si può ripristinare così com’è: {at}{reason}.")
            }
        }
    }

    /// An `against` that is no version.
    pub fn bad_against(&self, against: &str) -> String {
        match self.lang {
            Lang::En => format!("“{against}” is not a version of this automation to compare with."),
            Lang::It => format!("“{against}” non è una versione di questa automazione con cui confrontare."),
        }
    }

    /// The time format of the pages (in the workspace's zone).
    pub fn time_format(&self) -> &'static str {
        self.pick("%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M")
    }
}

pub const EN: VersionTexts = VersionTexts {
    lang: Lang::En,
    history: "History",
    intro: "Every saved version is kept. Open one to see what changed, and restore it if you need it back.",
    times_in: "Times in",
    version: "Version",
    saved: "Saved",
    name: "Name",
    state: "State",
    changes: "Changes",
    current: "Current",
    unknown_time: "—",
    first: "First version",
    no_changes: "No changes",
    back_to_history: "History",
    compare_with: "Compare with",
    compare: "Compare",
    nothing: "Nothing (the whole document)",
    the_one_before: "the one before",
    no_differences: "No differences: the two documents are the same.",
    added: "added",
    removed: "removed",
    diff_hint: "The automation's document as JSON. Lines marked + were added, lines marked − were removed; unchanged lines are folded.",
    restore: "Restore this version",
    is_current: "This is the current version.",
};

pub const IT: VersionTexts = VersionTexts {
    lang: Lang::It,
    history: "Cronologia",
    intro: "Ogni versione salvata viene tenuta. Aprine una per vedere cosa è cambiato, e ripristinala se ti serve.",
    times_in: "Orari in",
    version: "Versione",
    saved: "Salvata",
    name: "Nome",
    state: "Stato",
    changes: "Modifiche",
    current: "Attuale",
    unknown_time: "—",
    first: "Prima versione",
    no_changes: "Nessuna modifica",
    back_to_history: "Cronologia",
    compare_with: "Confronta con",
    compare: "Confronta",
    nothing: "Niente (il documento intero)",
    the_one_before: "la precedente",
    no_differences: "Nessuna differenza: i due documenti sono uguali.",
    added: "aggiunta",
    removed: "tolta",
    diff_hint: "Il documento dell’automazione in JSON. Le righe con + sono state aggiunte, quelle con − tolte; le righe invariate sono raccolte.",
    restore: "Ripristina questa versione",
    is_current: "Questa è la versione attuale.",
};
