//! Two documents' texts as a line diff for people: the changed lines with a few unchanged lines
//! of context around them, and each other run of unchanged lines folded into a count. The diff
//! itself is `similar`'s (Myers, with a time limit for pathological inputs).

use similar::{ChangeTag, DiffOp, TextDiff};
use std::time::Duration;

/// Unchanged lines kept on each side of a change.
pub const CONTEXT: usize = 3;

/// Past this, `similar` settles for a coarser (still correct) diff.
const TIME_LIMIT: Duration = Duration::from_millis(500);

/// What a line of the diff is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Same,
    Added,
    Removed,
}

/// One row of the diff as the page draws it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A line, with its 1-based numbers in the old and the new text (an added line has no old
    /// number, a removed one no new number).
    Line { mark: Mark, old: Option<usize>, new: Option<usize>, text: String },
    /// This many unchanged lines, not shown.
    Folded(usize),
}

/// A diff: its rows, and how many lines were added and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub rows: Vec<Row>,
    pub added: usize,
    pub removed: usize,
}

impl Diff {
    /// Whether the two texts are the same.
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.removed == 0
    }
}

fn text_diff<'a>(old: &'a str, new: &'a str) -> TextDiff<'a, 'a, 'a, str> {
    TextDiff::configure().timeout(TIME_LIMIT).diff_lines(old, new)
}

/// The lines of `new` against `old`, `context` unchanged lines around each change, the rest folded.
pub fn lines(old: &str, new: &str, context: usize) -> Diff {
    let diff = text_diff(old, new);
    let mut result = Diff::default();
    // Where the previous group ended in the old text (every fold is of unchanged lines, so
    // counting in the old text counts them).
    let mut shown_to = 0;
    for group in diff.grouped_ops(context) {
        let Some(start) = group.first().map(|op| op.old_range().start) else { continue };
        if start > shown_to {
            result.rows.push(Row::Folded(start - shown_to));
        }
        for op in &group {
            for change in diff.iter_changes(op) {
                let mark = match change.tag() {
                    ChangeTag::Equal => Mark::Same,
                    ChangeTag::Insert => {
                        result.added += 1;
                        Mark::Added
                    }
                    ChangeTag::Delete => {
                        result.removed += 1;
                        Mark::Removed
                    }
                };
                result.rows.push(Row::Line {
                    mark,
                    old: change.old_index().map(|i| i + 1),
                    new: change.new_index().map(|i| i + 1),
                    text: change.value().trim_end_matches(['\n', '\r']).to_string(),
                });
            }
        }
        shown_to = group.last().map_or(shown_to, |op| op.old_range().end);
    }
    let total = diff.old_slices().len();
    if !result.rows.is_empty() && total > shown_to {
        result.rows.push(Row::Folded(total - shown_to));
    }
    result
}

/// Only how many lines `new` adds to and removes from `old`.
pub fn counts(old: &str, new: &str) -> (usize, usize) {
    let diff = text_diff(old, new);
    diff.ops().iter().fold((0, 0), |(added, removed), op| match op {
        DiffOp::Equal { .. } => (added, removed),
        DiffOp::Insert { new_len, .. } => (added + new_len, removed),
        DiffOp::Delete { old_len, .. } => (added, removed + old_len),
        DiffOp::Replace { old_len, new_len, .. } => (added + new_len, removed + old_len),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(count: usize) -> String {
        (1..=count).map(|i| format!("line {i}\n")).collect()
    }

    fn texts(diff: &Diff) -> Vec<String> {
        diff.rows
            .iter()
            .map(|row| match row {
                Row::Line { mark: Mark::Same, text, .. } => format!(" {text}"),
                Row::Line { mark: Mark::Added, text, .. } => format!("+{text}"),
                Row::Line { mark: Mark::Removed, text, .. } => format!("-{text}"),
                Row::Folded(n) => format!("…{n}"),
            })
            .collect()
    }

    #[test]
    fn a_changed_line_is_removed_then_added_with_its_context_and_the_rest_folded() {
        let old = numbered(20);
        let new = old.replace("line 10\n", "line ten\n");
        let diff = lines(&old, &new, 3);
        assert_eq!(
            texts(&diff),
            ["…6", " line 7", " line 8", " line 9", "-line 10", "+line ten", " line 11", " line 12", " line 13", "…7"]
        );
        assert_eq!((diff.added, diff.removed), (1, 1));
        assert_eq!(counts(&old, &new), (1, 1));
    }

    #[test]
    fn line_numbers_follow_each_side() {
        let diff = lines("a\nb\nc\n", "a\nx\nb\nc\n", 3);
        assert_eq!(
            diff.rows[1],
            Row::Line { mark: Mark::Added, old: None, new: Some(2), text: "x".into() },
            "{:?}",
            diff.rows
        );
        assert_eq!(diff.rows[2], Row::Line { mark: Mark::Same, old: Some(2), new: Some(3), text: "b".into() });
    }

    #[test]
    fn against_nothing_every_line_is_added() {
        let diff = lines("", "{\n  \"name\": \"x\"\n}", 3);
        assert_eq!(texts(&diff), ["+{", "+  \"name\": \"x\"", "+}"]);
        assert_eq!((diff.added, diff.removed), (3, 0));
    }

    #[test]
    fn the_same_text_has_no_rows() {
        let diff = lines(&numbered(5), &numbered(5), 3);
        assert!(diff.is_empty() && diff.rows.is_empty());
    }

    #[test]
    fn two_changes_far_apart_have_a_fold_between_them() {
        let old = numbered(30);
        let new = old.replace("line 2\n", "line two\n").replace("line 28\n", "line twenty-eight\n");
        let shown = texts(&lines(&old, &new, 2));
        assert_eq!(shown.first().map(String::as_str), Some(" line 1"));
        assert!(shown.contains(&"…21".to_string()), "{shown:?}");
        assert_eq!(shown.last().map(String::as_str), Some(" line 30"));
    }
}
